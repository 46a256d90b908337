# fish completion for crio-status, installed by the CRI-O static bundle.

# Commands and upstream's aliases (`crio status`): info i, config c, containers container cs s, goroutines g, heap hp.
set -l __crio_status_commands info i config c containers container cs s goroutines g heap hp

complete -c crio-status -f
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -s s -l socket -r -F -d "CRI-O's HTTP API socket (default /var/run/crio/crio.sock)"
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -l timeout -x -d "Seconds to wait for CRI-O's answer (default 5)"
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -l version -d "Print the version and exit"
complete -c crio-status -s h -l help -d "Show help and exit"

complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -a info -d "Cgroup driver, storage driver and root, default UID/GID mappings"
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -a config -d "The daemon's configuration as TOML"
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -a containers -d "Details of one container (ID or --id ID)"
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -a goroutines -d "The daemon's goroutine stacks"
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -a heap -d "Save the daemon's heap dump to a file"

complete -c crio-status -n "__fish_seen_subcommand_from info i containers container cs s" -l json -d "Print the raw JSON answer"
complete -c crio-status -n "__fish_seen_subcommand_from containers container cs s" -s i -l id -x -d "The container ID"
complete -c crio-status -n "__fish_seen_subcommand_from heap hp" -s f -l file -r -F -d "Output file ('-' for standard output)"
complete -c crio-status -n "__fish_seen_subcommand_from heap hp" -l force -d "Replace the file if it exists"
