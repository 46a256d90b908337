"""branch cut / forward / patch / tag: every refusal with its message and exit code, and --dry-run changing nothing."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers.gitrel import Remote, commit_file, crio_release, git, make_origin_and_clone, tree_digest

from crio.errors import ExitCode


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    return make_origin_and_clone(tmp_path, "1.22.0")


def run(remote: Remote, *args: str) -> tuple[int, str, str]:
    res = crio_release(*args, "--repo", str(remote.clone))
    return res.code, res.out, res.err


def ok(remote: Remote, *args: str) -> str:
    code, out, err = run(remote, *args)
    assert code == 0, err
    return out


def refusal(remote: Remote, *args: str, code: ExitCode = ExitCode.REFUSED) -> str:
    got, _out, err = run(remote, *args)
    assert got == code, err
    assert len(err.strip().splitlines()) == 1, err  # one line
    return err


def released_122(remote: Remote) -> None:
    """release-1.22 cut and v1.22.0 tagged; main says 1.23.0."""
    ok(remote, "branch", "cut", "1.22")
    ok(remote, "tag", "v1.22.0")


# branch cut -----------------------------------------------------------------


def test_cut_refuses_existing_branch(remote: Remote) -> None:
    ok(remote, "branch", "cut", "1.22")
    assert "branch release-1.22 already exists" in refusal(remote, "branch", "cut", "1.22")


def test_cut_refuses_branch_existing_only_on_remote(remote: Remote, tmp_path: Path) -> None:
    git(remote.clone, "push", "-q", "origin", "main:release-1.22")
    git(remote.clone, "fetch", "-q", "origin")
    assert "already exists" in refusal(remote, "branch", "cut", "1.22")


def test_cut_refuses_dirty_tree(remote: Remote) -> None:
    (remote.clone / "README.md").write_text("changed\n")
    assert "uncommitted changes" in refusal(remote, "branch", "cut", "1.22")
    assert "release-1.22" not in git(remote.clone, "branch", "--list")


def test_cut_refuses_version_file_not_series_zero(remote: Remote) -> None:
    err = refusal(remote, "branch", "cut", "1.23")
    assert "crio/VERSION at main says 1.22.0, but cutting release-1.23 needs 1.23.0" in err
    commit_file(remote.clone, "crio/VERSION", "1.22.1\n", "odd version")
    assert "says 1.22.1" in refusal(remote, "branch", "cut", "1.22")


def test_cut_refuses_a_minor_that_is_not_next(remote: Remote) -> None:
    git(remote.clone, "branch", "release-1.20")
    err = refusal(remote, "branch", "cut", "1.22")
    assert "1.22 is not the next minor after the newest release branch release-1.20; expected 1.21" in err


def test_cut_orders_series_numerically(remote: Remote) -> None:
    # release-1.9 and release-1.10 exist: the newest is 1.10 (text order would say 1.9), so 1.11 is next.
    git(remote.clone, "branch", "release-1.9")
    git(remote.clone, "branch", "release-1.10")
    commit_file(remote.clone, "crio/VERSION", "1.11.0\n", "1.11")
    ok(remote, "branch", "cut", "1.11")
    assert git(remote.clone, "rev-parse", "release-1.11") == git(remote.clone, "rev-parse", "main")


def test_cut_rejects_bad_series_and_missing_version_file(remote: Remote) -> None:
    assert "invalid minor series '1.x'" in refusal(remote, "branch", "cut", "1.x", code=ExitCode.USAGE)
    err = refusal(remote, "branch", "cut", "1.22", "--version-file", "VERSION")
    assert "has no version file VERSION" in err


def test_cut_from_ref_and_custom_version_file(remote: Remote) -> None:
    commit_file(remote.clone, "VERSION.txt", "1.22.0\n", "other layout")
    first = git(remote.clone, "rev-parse", "HEAD")
    commit_file(remote.clone, "later.txt", "x\n", "later")
    ok(remote, "branch", "cut", "1.22", "--from", first, "--version-file", "VERSION.txt")
    assert git(remote.clone, "rev-parse", "release-1.22") == first


def test_unknown_revisions_are_usage_errors(remote: Remote) -> None:
    assert "unknown revision 'nope'" in refusal(remote, "branch", "cut", "1.22", "--from", "nope",
                                                code=ExitCode.USAGE)
    res = crio_release("notes", "--repo", str(remote.clone), "--to", "v9.9.9")
    assert res.code == ExitCode.USAGE and "unknown revision 'v9.9.9'" in res.err


def test_not_a_repository_is_a_git_error(tmp_path: Path) -> None:
    res = crio_release("forward", "--repo", str(tmp_path))
    assert res.code == ExitCode.GIT
    assert "is not a git repository" in res.err


# forward --------------------------------------------------------------------


def test_forward_refuses_divergence_listing_commits(remote: Remote) -> None:
    ok(remote, "branch", "cut", "1.22")
    git(remote.clone, "checkout", "-q", "release-1.22")
    commit_file(remote.clone, "only-release.txt", "x\n", "hotfix only on the branch")
    git(remote.clone, "checkout", "-q", "main")
    commit_file(remote.clone, "main.txt", "x\n", "main work")
    before = git(remote.clone, "rev-parse", "release-1.22")
    err = refusal(remote, "forward")
    assert "cannot fast-forward release-1.22 to main: 1 commit(s) on release-1.22 are not on main" in err
    assert f"{before[:12]} hotfix only on the branch" in err
    assert git(remote.clone, "rev-parse", "release-1.22") == before


def test_forward_refuses_when_a_newer_branch_is_only_on_the_remote(remote: Remote) -> None:
    ok(remote, "branch", "cut", "1.22")
    git(remote.clone, "push", "-q", "origin", "main:release-1.23")
    git(remote.clone, "fetch", "-q", "origin")
    commit_file(remote.clone, "a.txt", "a\n", "main work")
    before = git(remote.clone, "rev-parse", "release-1.22")
    err = refusal(remote, "forward")
    assert "the newest release branch release-1.23 exists on origin but not here" in err
    assert git(remote.clone, "rev-parse", "release-1.22") == before


def test_forward_without_release_branch_refuses(remote: Remote) -> None:
    assert "no local release-X.Y branch" in refusal(remote, "forward")


def test_forward_moves_checked_out_release_branch_with_its_work_tree(remote: Remote) -> None:
    ok(remote, "branch", "cut", "1.22")
    commit_file(remote.clone, "new.txt", "new\n", "main work")
    main = git(remote.clone, "rev-parse", "main")
    git(remote.clone, "checkout", "-q", "release-1.22")
    ok(remote, "forward")
    assert git(remote.clone, "rev-parse", "HEAD") == main
    assert (remote.clone / "new.txt").read_text() == "new\n"
    assert git(remote.clone, "status", "--porcelain") == ""


# patch ----------------------------------------------------------------------


def test_patch_refuses_when_nothing_changed_unless_forced(remote: Remote) -> None:
    released_122(remote)
    err = refusal(remote, "patch", "1.22")
    assert "nothing changed on release-1.22 since v1.22.0; pass --force" in err
    ok(remote, "patch", "1.22", "--force")
    assert git(remote.clone, "show", "release-1.22:crio/VERSION") == "1.22.1"


def test_patch_refuses_untagged_version_and_missing_branch(remote: Remote) -> None:
    assert "branch release-1.22 does not exist" in refusal(remote, "patch", "1.22")
    ok(remote, "branch", "cut", "1.22")
    assert "release-1.22 already prepares 1.22.0 (v1.22.0 is not tagged yet)" in refusal(remote, "patch", "1.22")


def test_patch_on_checked_out_branch_updates_work_tree(remote: Remote) -> None:
    released_122(remote)
    git(remote.clone, "checkout", "-q", "release-1.22")
    commit_file(remote.clone, "fix.txt", "fix\n", "fix: something")
    ok(remote, "patch", "1.22")
    assert (remote.clone / "crio/VERSION").read_text() == "1.22.1\n"
    assert git(remote.clone, "status", "--porcelain") == ""
    (remote.clone / "fix.txt").write_text("dirty\n")
    ok(remote, "tag", "v1.22.1")
    commit_file(remote.clone, "fix.txt", "fix2\n", "fix: again")
    (remote.clone / "fix.txt").write_text("dirty\n")
    assert "uncommitted changes on release-1.22" in refusal(remote, "patch", "1.22")


# tag ------------------------------------------------------------------------


def test_tag_refuses_existing_tag(remote: Remote) -> None:
    released_122(remote)
    assert "tag v1.22.0 already exists" in refusal(remote, "tag", "v1.22.0")


def test_tag_push_refuses_a_tag_only_on_the_remote(remote: Remote, tmp_path: Path) -> None:
    ok(remote, "branch", "cut", "1.22", "--push")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", "--branch", "release-1.22", str(remote.origin), str(other))
    git(other, "tag", "-a", "-m", "theirs", "v1.22.0")
    git(other, "push", "-q", "origin", "v1.22.0")
    before = tree_digest(remote.origin, remote.clone)
    assert "tag v1.22.0 already exists on origin (not fetched here)" in refusal(remote, "tag", "v1.22.0", "--push")
    assert tree_digest(remote.origin, remote.clone) == before


def test_tag_refuses_skipped_patch_number(remote: Remote) -> None:
    released_122(remote)
    git(remote.clone, "checkout", "-q", "release-1.22")
    commit_file(remote.clone, "crio/VERSION", "1.22.2\n", "jump")
    git(remote.clone, "checkout", "-q", "main")
    err = refusal(remote, "tag", "v1.22.2")
    assert "v1.22.2 skips a patch number: the next release of 1.22 is v1.22.1" in err


def test_tag_refuses_going_backwards(remote: Remote) -> None:
    released_122(remote)
    git(remote.clone, "checkout", "-q", "release-1.22")
    commit_file(remote.clone, "crio/VERSION", "1.22.1\n", "1.22.1")
    git(remote.clone, "tag", "v1.22.2")  # made by hand, out of order
    git(remote.clone, "checkout", "-q", "main")
    assert "v1.22.2 already exists; v1.22.1 would go backwards" in refusal(remote, "tag", "v1.22.1")


def test_tag_refuses_commit_not_on_release_branch(remote: Remote) -> None:
    ok(remote, "branch", "cut", "1.22")
    git(remote.clone, "checkout", "-q", "-b", "topic")
    other = commit_file(remote.clone, "x.txt", "x\n", "elsewhere")
    git(remote.clone, "checkout", "-q", "main")
    err = refusal(remote, "tag", "v1.22.0", "--commit", other)
    assert f"commit {other[:12]} is not on release-1.22" in err
    assert git(remote.clone, "tag", "--list") == ""


def test_tag_refuses_version_file_mismatch_and_bad_tag(remote: Remote) -> None:
    released_122(remote)
    git(remote.clone, "checkout", "-q", "release-1.22")
    commit_file(remote.clone, "fix.txt", "x\n", "fix")
    git(remote.clone, "checkout", "-q", "main")
    err = refusal(remote, "tag", "v1.22.1")
    assert "crio/VERSION at" in err and "says 1.22.0, not 1.22.1; run `patch 1.22` first" in err
    assert "invalid version 'v1.22'" in refusal(remote, "tag", "v1.22", code=ExitCode.USAGE)
    assert "branch release-1.30 does not exist" in refusal(remote, "tag", "v1.30.0")


def test_tag_rerun_after_main_moved_only_tags(remote: Remote) -> None:
    # as if `tag v1.22.0` died after moving main: the re-run tags and leaves main alone
    ok(remote, "branch", "cut", "1.22")
    commit_file(remote.clone, "crio/VERSION", "1.23.0\n", "main moves on")
    main = git(remote.clone, "rev-parse", "main")
    ok(remote, "tag", "v1.22.0")
    assert git(remote.clone, "rev-parse", "main") == main
    assert git(remote.clone, "rev-parse", "v1.22.0^{commit}") == git(remote.clone, "rev-parse", "release-1.22")
    commit_file(remote.clone, "crio/VERSION", "1.21.5\n", "wrong")
    ok(remote, "branch", "cut", "1.23", "--from", main)
    assert "crio/VERSION on main says 1.21.5" in refusal(remote, "tag", "v1.23.0")


def test_prerelease_tag_does_not_move_main(remote: Remote) -> None:
    ok(remote, "branch", "cut", "1.22")
    ok(remote, "tag", "v1.22.0-rc.1")
    assert git(remote.clone, "show", "main:crio/VERSION") == "1.22.0"
    ok(remote, "tag", "v1.22.0")
    assert git(remote.clone, "show", "main:crio/VERSION") == "1.23.0"


def test_tag_of_new_minor_moves_main_not_checked_out(remote: Remote) -> None:
    ok(remote, "branch", "cut", "1.22")
    git(remote.clone, "checkout", "-q", "release-1.22")
    main_before = git(remote.clone, "rev-parse", "main")
    ok(remote, "tag", "v1.22.0")
    assert git(remote.clone, "rev-parse", "main^") == main_before
    assert git(remote.clone, "log", "-1", "--format=%s", "main") == "Bump version to 1.23.0 on main after v1.22.0"
    assert (remote.clone / "crio/VERSION").read_text() == "1.22.0\n"  # the checked-out release branch
    assert git(remote.clone, "status", "--porcelain") == ""


def test_tag_signs_when_git_config_asks(remote: Remote) -> None:
    ok(remote, "branch", "cut", "1.22")
    git(remote.clone, "config", "tag.gpgSign", "yes")  # git's boolean spelling, not Python truthiness
    out = ok(remote, "tag", "v1.22.0", "--dry-run")
    assert f"git tag -s -m 'CRI-O v1.22.0' v1.22.0 {git(remote.clone, 'rev-parse', 'release-1.22')}" in out
    git(remote.clone, "config", "tag.gpgSign", "false")
    assert "git tag -a -m" in ok(remote, "tag", "v1.22.0", "--dry-run")


def test_push_rejected_is_a_git_error(remote: Remote, tmp_path: Path) -> None:
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote.origin), str(other))
    ok(remote, "branch", "cut", "1.22", "--push")
    git(other, "fetch", "-q")
    git(other, "checkout", "-q", "-b", "release-1.22", "origin/release-1.22")
    commit_file(other, "x.txt", "x\n", "someone else's commit")
    git(other, "push", "-q", "origin", "release-1.22")
    commit_file(remote.clone, "y.txt", "y\n", "main work")
    code, _out, err = run(remote, "forward", "--push")
    assert code == ExitCode.GIT, err
    assert "git push failed" in err and "rejected" in err


# --dry-run ------------------------------------------------------------------


def assert_dry_run_changes_nothing(remote: Remote, *args: str) -> list[str]:
    before = tree_digest(remote.origin, remote.clone)
    out = ok(remote, *args, "--dry-run", "--push")
    assert tree_digest(remote.origin, remote.clone) == before
    return out.splitlines()


def test_dry_run_cut_prints_exact_commands(remote: Remote) -> None:
    sha = git(remote.clone, "rev-parse", "main")
    lines = assert_dry_run_changes_nothing(remote, "branch", "cut", "1.22")
    assert lines == [f"git branch release-1.22 {sha}", "git push --atomic origin refs/heads/release-1.22"]
    ok(remote, "branch", "cut", "1.22")  # the real run does what was printed
    assert git(remote.clone, "rev-parse", "release-1.22") == sha


def test_dry_run_forward_prints_the_commands_the_real_run_runs(remote: Remote) -> None:
    ok(remote, "branch", "cut", "1.22", "--push")
    commit_file(remote.clone, "a.txt", "a\n", "main work")
    lines = assert_dry_run_changes_nothing(remote, "forward")
    main, old = git(remote.clone, "rev-parse", "main"), git(remote.clone, "rev-parse", "release-1.22")
    assert lines == [f"git update-ref refs/heads/release-1.22 {main} {old}",
                     "git push --atomic origin refs/heads/release-1.22"]
    assert ok(remote, "forward", "--push").splitlines() == lines
    assert git(remote.origin, "rev-parse", "release-1.22") == main


def test_dry_run_tag_and_patch_change_nothing(remote: Remote) -> None:
    ok(remote, "branch", "cut", "1.22")
    lines = assert_dry_run_changes_nothing(remote, "tag", "v1.22.0")
    assert 'commit=$(git commit-tree "$tree" -p ' in "\n".join(lines)
    assert lines[-3] == 'git merge --ff-only --quiet "$commit"'  # main is checked out
    assert lines[-2].startswith("git tag -a -m 'CRI-O v1.22.0' v1.22.0 ")
    assert lines[-1] == "git push --atomic origin refs/tags/v1.22.0 refs/heads/main"
    ok(remote, "tag", "v1.22.0")
    git(remote.clone, "checkout", "-q", "release-1.22")
    commit_file(remote.clone, "fix.txt", "x\n", "fix")
    git(remote.clone, "checkout", "-q", "main")
    lines = assert_dry_run_changes_nothing(remote, "patch", "1.22")
    old = git(remote.clone, "rev-parse", "release-1.22")
    assert lines[-2] == f'git update-ref refs/heads/release-1.22 "$commit" {old}'


def test_without_push_nothing_reaches_origin(remote: Remote) -> None:
    before = tree_digest(remote.origin)
    out = ok(remote, "branch", "cut", "1.22")
    assert "not pushed (local only); pass --push" in out
    ok(remote, "tag", "v1.22.0")
    assert tree_digest(remote.origin) == before


def test_help_says_where_main_moves_and_that_pushing_is_opt_in() -> None:
    res = crio_release("tag", "--help")
    assert res.code == 0
    text = " ".join(res.out.split())
    assert "Tagging vX.Y.0 also moves main to X.(Y+1).0 in one commit" in text
    assert "Nothing is pushed without --push" in text
    notes = " ".join(crio_release("notes", "--help").out.split())
    assert "vX.Y.0 follows the highest release of an older minor that is an ancestor" in notes


def test_tag_is_signed_when_git_config_asks(remote: Remote, tmp_path: Path) -> None:
    """The real `git tag -s` path, with an SSH signing key (no agent, no keyring) and verified by git."""
    if shutil.which("ssh-keygen") is None:
        pytest.skip("ssh-keygen is not installed: the signing path is untested here")
    key = tmp_path / "signing_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tester", "-f", str(key)], check=True)
    allowed = tmp_path / "allowed_signers"
    allowed.write_text(f"tester@example.invalid {(tmp_path / 'signing_key.pub').read_text().strip()}\n")
    for name, value in (("gpg.format", "ssh"), ("user.signingkey", str(key)), ("tag.gpgSign", "true"),
                        ("commit.gpgSign", "on"),
                        ("gpg.ssh.allowedSignersFile", str(allowed))):
        git(remote.clone, "config", name, value)
    ok(remote, "branch", "cut", "1.22")
    out = ok(remote, "tag", "v1.22.0")
    assert "git tag -s -m 'CRI-O v1.22.0' v1.22.0" in out
    assert "-----BEGIN SSH SIGNATURE-----" in git(remote.clone, "cat-file", "-p", "v1.22.0")
    git(remote.clone, "tag", "-v", "v1.22.0")  # fails the test unless the signature verifies
    assert 'git commit-tree "$tree" -p' not in out and " -S -m 'Bump version to 1.23.0" in out
    git(remote.clone, "verify-commit", "main")  # the plumbing commit that moved main is signed too


def test_commands_work_on_a_bare_repository(remote: Remote) -> None:
    bare = ["--repo", str(remote.origin)]
    assert crio_release("branch", "cut", "1.22", *bare).code == 0
    res = crio_release("tag", "v1.22.0", *bare)
    assert res.code == 0, res.err
    assert git(remote.origin, "show", "main:crio/VERSION") == "1.23.0"
    assert git(remote.origin, "rev-parse", "v1.22.0^{commit}") == git(remote.origin, "rev-parse", "release-1.22")
