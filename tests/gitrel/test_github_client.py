"""The GitHub client against the fake API: rate-limit resets, pagination limits, retries and their messages."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from crio_release.gitrel.github import GitHubClient, GitHubError, GitHubNotFound
from helpers.fake_github import FakeGitHub

SHA = "ab" * 20



def client(api: FakeGitHub, sleeps: list[float], said: list[str], **kw: Any) -> GitHubClient:
    return GitHubClient(api.url, None, sleep=sleeps.append, say=said.append, **kw)


def test_primary_rate_limit_waits_until_the_reset_time() -> None:
    sleeps: list[float] = []
    said: list[str] = []
    with FakeGitHub(reset_in=30) as api:
        api.add_pull(1, "body", "alice")
        api.fault("/repos/cri-o/cri-o/pulls/1", "rate403")
        data = client(api, sleeps, said).get_json("repos/cri-o/cri-o/pulls/1")
        assert data["number"] == 1 and api.count() == 2
    assert len(sleeps) == 1 and 29 <= sleeps[0] <= 32  # until the reset, plus a second of slack
    assert "(X-RateLimit-Reset)" in said[0] and said[0].startswith("GitHub rate limit reached (GET /repos/")
    assert [r.authorization for r in api.requests] == [None, None]  # no token, no header


def test_429_without_headers_waits_a_minute_and_too_long_a_wait_fails() -> None:
    sleeps: list[float] = []
    said: list[str] = []
    with FakeGitHub() as api:
        api.add_pull(1, "body", "alice")
        api.fault("/repos/cri-o/cri-o/pulls/1", "status:429")
        client(api, sleeps, said).get_json("repos/cri-o/cri-o/pulls/1")
        assert [round(s) for s in sleeps] == [60] and "429 without a reset time" in said[0]
        api.fault("/repos/cri-o/cri-o/pulls/1", "status:429")
        with pytest.raises(GitHubError, match=r"resets in 60 s .* longer than the 10 s allowed"):
            client(api, sleeps, said, max_wait=10).get_json("repos/cri-o/cri-o/pulls/1")


def test_pagination_follows_next_links_and_refuses_to_leave_the_api() -> None:
    with FakeGitHub(page_size=2) as api:
        for n in range(1, 6):
            api.add_pull(n, "b", "u")
        api.commit_pulls[SHA] = [1, 2, 3, 4, 5]
        items = list(client(api, [], []).paginate(f"repos/cri-o/cri-o/commits/{SHA}/pulls"))
        assert [i["number"] for i in items] == [1, 2, 3, 4, 5] and api.count() == 3

    class Leaky(FakeGitHub):
        def answer(self, path: str, query: dict[str, list[str]]) -> tuple[int, Any, dict[str, str]]:
            return 200, [], {"Link": '<http://198.51.100.1/steal?page=2>; rel="next"'}

    with Leaky() as api, pytest.raises(GitHubError, match="next-page link leaves"):
        list(client(api, [], []).paginate(f"repos/cri-o/cri-o/commits/{SHA}/pulls"))
    assert api.count() == 1


def test_unknown_objects_and_bad_answers() -> None:
    with FakeGitHub() as api:
        c = client(api, [], [])
        with pytest.raises(GitHubNotFound, match=r"not found \(404: Not Found\)"):
            c.get_json("repos/cri-o/cri-o/pulls/404")
        with pytest.raises(GitHubNotFound, match="422: No commit found"):
            list(c.paginate(f"repos/cri-o/cri-o/commits/{SHA}/pulls"))
        api.fault("/repos/cri-o/cri-o/pulls/1", "status:418")
        with pytest.raises(GitHubError, match="GitHub answered 418: injected failure"):
            c.get_json("repos/cri-o/cri-o/pulls/1")


def test_unreachable_api_is_retried_then_reported() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        sleeps: list[float] = []
        said: list[str] = []
        c = GitHubClient(f"http://127.0.0.1:{port}", "secret", sleep=sleeps.append, say=said.append, retries=2,
                         backoff=0.25, timeout=2)
        with pytest.raises(GitHubError) as info:
            c.get_json("repos/cri-o/cri-o/pulls/1")
    assert "connection failed (ConnectionError), 3 times" in info.value.message
    assert sleeps == [0.25, 0.5] and len(said) == 2
    assert "secret" not in info.value.message + "".join(said)
