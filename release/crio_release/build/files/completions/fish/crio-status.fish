# fish completion for crio-status, installed by the CRI-O static bundle.

set -l __crio_status_commands info config containers

complete -c crio-status -f
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -l socket -r -F -d "CRI-O's HTTP API socket (default /var/run/crio/crio.sock)"
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -l timeout -x -d "Seconds to wait for CRI-O's answer (default 5)"
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -l version -d "Print the version and exit"
complete -c crio-status -s h -l help -d "Show help and exit"

complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -a info -d "Cgroup driver, storage driver and root, default UID/GID mappings"
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -a config -d "The daemon's configuration as TOML"
complete -c crio-status -n "not __fish_seen_subcommand_from $__crio_status_commands" -a containers -d "Details of the container ID"

complete -c crio-status -n "__fish_seen_subcommand_from info containers" -l json -d "Print the raw JSON answer"
