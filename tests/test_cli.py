"""The command line: `feeds build`, `feeds check`, settings files and `python -m feeds`."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from feeds.cli import main

from .feedcheck import REPO, feed_files, site_files
from .stores import RecordWriter

SUMMARY = re.compile(
    r"^read (?P<read>\d+) records: (?P<published>\d+) published, (?P<unpublished>\d+) unpublished,"
    r".*?(?P<skipped>\d+) skipped.*?; (?P<feeds>\d+) feeds, (?P<files>\d+) files, "
    r"(?P<changed>\d+) changed; (?P<seconds>\d+\.\d+)s(?P<note> \(nothing changed since the last build\))?"
    r"(?P<nothing> \(nothing was published[^)]*\))?$",
    re.MULTILINE,
)


# The seeds' 11 feeds: all items, two topics, two providers; stories, top stories, and each topic's.
SEED_FEEDS = ("feed", "topics/ai", "topics/computer-vision", "providers/businessinsider.com",
              "providers/reuters.com", "stories", "top", "topics/ai/stories", "topics/ai/top",
              "topics/computer-vision/stories", "topics/computer-vision/top")


def shown(result: Result) -> str:
    """A CLI result for an assertion message."""
    return (f"exit {result.exit_code}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
            f"\n--- exception {result.exception!r}")


def summary(result: Result) -> dict[str, str]:
    """The fields of the one-line build summary."""
    match = SUMMARY.search(result.stdout)
    assert match, f"no summary line:\n{shown(result)}"
    return match.groupdict()


def test_build_writes_the_seed_feeds_and_ends_with_a_summary(runner: CliRunner, seeds_dir: Path,
                                                             tmp_path: Path, in_tmp: Path) -> None:
    out = tmp_path / "site"
    result = runner.invoke(main, ["build", "--records", str(seeds_dir), "--out", str(out)])
    assert result.exit_code == 0, shown(result)
    fields = summary(result)
    files = str(len(site_files(out)))
    assert {k: fields[k] for k in ("read", "published", "unpublished", "skipped", "feeds", "files",
                                   "changed")} == {
        "read": "5", "published": "2", "unpublished": "3", "skipped": "0", "feeds": str(len(SEED_FEEDS)),
        "files": files, "changed": files}, shown(result)
    assert str(out) in result.stdout, "the build says where the feeds are"
    assert len(feed_files(out)) == 15  # the record feeds'
    written = site_files(out)
    assert {f"{stem}.{fmt}" for stem in SEED_FEEDS for fmt in ("atom", "rss", "json")} <= set(written)
    again = runner.invoke(main, ["build", "--records", str(seeds_dir), "--out", str(out)])
    assert summary(again)["changed"] == "0", shown(again)
    assert summary(again)["note"], "an unchanged store is not read again"


def test_build_options_override_the_defaults(runner: CliRunner, seeds_dir: Path, tmp_path: Path,
                                             in_tmp: Path) -> None:
    out = tmp_path / "site"
    result = runner.invoke(main, ["build", "--records", str(seeds_dir), "--out", str(out),
                                  "--base-url", "https://feeds.example.net/x", "--limit", "1"])
    assert result.exit_code == 0, shown(result)
    atom = (out / "feed.atom").read_text(encoding="utf-8")
    assert 'href="https://feeds.example.net/x/feed.atom"' in atom
    assert atom.count("<entry>") == 1


def test_build_drafts_includes_unpublished_records_for_preview(runner: CliRunner, seeds_dir: Path,
                                                                tmp_path: Path, in_tmp: Path) -> None:
    out = tmp_path / "preview"
    result = runner.invoke(main, ["build", "--records", str(seeds_dir), "--out", str(out),
                                  "--drafts"])
    assert result.exit_code == 0, shown(result)
    assert (out / "providers" / "hrw.org.atom").is_file()
    assert (out / "feed.atom").read_text(encoding="utf-8").count("<entry>") == 5


def test_check_drafts_checks_the_drafts_a_drafts_build_would_publish(runner: CliRunner, tmp_path: Path,
                                                                     in_tmp: Path) -> None:
    records = tmp_path / "drafts"
    records.mkdir()
    (records / "draft.md").write_text('---\ntitle: "A draft without a date"\nwebUrl: https://example.org/d\n'
                                      "published: false\n---\n", encoding="utf-8")
    plain = runner.invoke(main, ["check", "--records", str(records)])
    assert plain.exit_code == 0 and "draft.md" not in plain.stderr, shown(plain)
    drafts = runner.invoke(main, ["check", "--records", str(records), "--drafts"])
    assert drafts.exit_code == 1, shown(drafts)
    assert "error: draft.md: publishedDateTime: is missing" in drafts.stderr, shown(drafts)


def test_build_reports_skipped_records_and_still_publishes(runner: CliRunner, tmp_path: Path,
                                                           write_record: RecordWriter,
                                                           records_dir: Path, in_tmp: Path) -> None:
    write_record("good.md")
    write_record("bad.md", title=None, webUrl="https://e.example/bad")
    out = tmp_path / "site"
    result = runner.invoke(main, ["build", "--records", str(records_dir), "--out", str(out)])
    assert result.exit_code == 0, shown(result)
    assert summary(result)["skipped"] == "1", shown(result)
    assert "bad.md: title: " in result.stderr, shown(result)
    assert (out / "feed.atom").read_text(encoding="utf-8").count("<entry>") == 1


def test_build_errors_are_one_line_without_a_traceback(runner: CliRunner, tmp_path: Path,
                                                       in_tmp: Path) -> None:
    result = runner.invoke(main, ["build", "--records", str(tmp_path / "missing"),
                                  "--out", str(tmp_path / "site")])
    assert result.exit_code != 0, shown(result)
    assert "Traceback" not in result.output
    assert result.stderr.strip().count("\n") == 0, shown(result)
    assert "missing" in result.stderr and "--records" in result.stderr, shown(result)
    assert not (tmp_path / "site").exists()


def test_a_bad_option_value_is_a_one_line_error(runner: CliRunner, seeds_dir: Path, tmp_path: Path,
                                                in_tmp: Path) -> None:
    for args in (["--limit", "0"], ["--base-url", "ftp://example.org/"], ["--limit", "many"]):
        result = runner.invoke(main, ["build", "--records", str(seeds_dir),
                                      "--out", str(tmp_path / "site"), *args])
        assert result.exit_code != 0, shown(result)
        assert "Traceback" not in result.output, shown(result)
        assert isinstance(result.exception, SystemExit), shown(result)


# -- what a build refuses, and what it says (issue 12, items 10 and 13) ---------------------------


def _store_with_a_secret(records: Path) -> None:
    RecordWriter(records)("secret.md", published=False, title="Unpublished scoop", secured="S3CR3T")
    RecordWriter(records)("good.md")


def test_the_output_folder_may_not_be_the_record_folder_nor_inside_nor_above_it(
        runner: CliRunner, tmp_path: Path, in_tmp: Path) -> None:
    records = tmp_path / "site" / "records"
    records.mkdir(parents=True)
    _store_with_a_secret(records)
    (tmp_path / "link").symlink_to(records)
    for out in (records, records / "public", records / "a" / "b", tmp_path / "site", tmp_path,
                tmp_path / "link", tmp_path / "link" / "out", Path("/")):
        result = runner.invoke(main, ["build", "--records", str(records), "--out", str(out)])
        assert result.exit_code != 0, f"--out {out}: " + shown(result)
        assert "record folder" in result.stderr and "Traceback" not in result.output, shown(result)
    assert sorted(p.name for p in records.iterdir()) == ["good.md", "secret.md"], "nothing was written"
    assert not (tmp_path / "site" / "feed.atom").exists()


def test_an_empty_output_or_record_folder_is_refused(runner: CliRunner, seeds_dir: Path, tmp_path: Path,
                                                     in_tmp: Path) -> None:
    for args in (["--records", str(seeds_dir), "--out", ""], ["--records", "", "--out", str(tmp_path / "o")],
                 ["--records", str(seeds_dir), "--out", "  "]):
        result = runner.invoke(main, ["build", *args])
        assert result.exit_code != 0, shown(result)
        assert "is empty" in result.stderr, shown(result)
    assert list(in_tmp.iterdir()) == [], "nothing was written into the current folder"


def test_a_build_names_the_real_output_folder(runner: CliRunner, seeds_dir: Path, in_tmp: Path) -> None:
    result = runner.invoke(main, ["build", "--records", str(seeds_dir), "--out", "site/../public"])
    assert result.exit_code == 0, shown(result)
    assert f"feeds written to {in_tmp.resolve() / 'public'}/" in result.stdout, shown(result)


def test_a_build_that_publishes_nothing_says_so_and_strict_fails_it(
        runner: CliRunner, write_record: RecordWriter, records_dir: Path, tmp_path: Path,
        in_tmp: Path) -> None:
    write_record("bad1.md", title=None)
    write_record("bad2.md", webUrl="javascript:alert(1)")
    out = tmp_path / "site"
    result = runner.invoke(main, ["build", "--records", str(records_dir), "--out", str(out)])
    assert result.exit_code == 0, shown(result)
    assert summary(result)["nothing"], shown(result)
    strict = runner.invoke(main, ["build", "--records", str(records_dir), "--out", str(out), "--strict"])
    assert strict.exit_code == 1, shown(strict)
    assert "2 record(s) skipped (--strict)" in strict.stderr, shown(strict)


def test_strict_passes_a_store_with_warnings_only(runner: CliRunner, write_record: RecordWriter,
                                                  records_dir: Path, tmp_path: Path, in_tmp: Path) -> None:
    write_record("ok.md", quality="high")
    result = runner.invoke(main, ["build", "--records", str(records_dir), "--out", str(tmp_path / "s"),
                                  "--strict"])
    assert result.exit_code == 0, shown(result)
    assert not summary(result)["nothing"] and "warning: ok.md: quality" in result.stderr, shown(result)


# -- feeds serve: its options are checked before anything starts (issue 12, item 12) --------------


def test_serve_refuses_a_port_or_host_that_cannot_be(runner: CliRunner, seeds_dir: Path,
                                                     in_tmp: Path) -> None:
    for args in (["--port", "99999"], ["--port", "0"], ["--port", "-1"], ["--port", "65536"],
                 ["--host", "http://127.0.0.1"], ["--host", "127.0.0.1:80"], ["--host", "a b"],
                 ["--host", ""], ["--host", "300.1.1.1x"], ["--host", "/tmp/sock"],
                 ["--host", "no-such-host.invalid"]):
        result = runner.invoke(main, ["serve", "--records", str(seeds_dir), *args])
        assert result.exit_code == 2, f"{args}: " + shown(result)
        assert "Invalid value for '--" in result.stderr, shown(result)


def test_serve_takes_ipv6_and_names_it_in_brackets(seeds_dir: Path, in_tmp: Path) -> None:
    from feeds.cli import HOST, _url_host
    assert _url_host(HOST.convert("::1", None, None)) == "[::1]"
    assert HOST.convert("[::1]", None, None) == "::1"
    assert HOST.convert("localhost", None, None) == "localhost"
    assert HOST.convert("0.0.0.0", None, None) == "0.0.0.0"


# -- feeds check ----------------------------------------------------------------------------------------


def test_check_on_the_seeds_exits_0(runner: CliRunner, seeds_dir: Path, in_tmp: Path) -> None:
    result = runner.invoke(main, ["check", "--records", str(seeds_dir)])
    assert result.exit_code == 0, shown(result)
    assert result.stderr == "", shown(result)
    assert "5 records" in result.stdout and "0 skipped" in result.stdout, shown(result)


def test_check_lists_file_field_message_and_exits_1_when_a_record_is_skipped(
        runner: CliRunner, write_record: RecordWriter, records_dir: Path, in_tmp: Path) -> None:
    write_record("good.md")
    write_record("naive.md", publishedDateTime="2021-03-04T05:06:07", webUrl="https://e.example/n")
    write_record("no-date.md", publishedDateTime="yesterday", webUrl="https://e.example/d")
    write_record("odd.md", published="yes", webUrl="https://e.example/o")
    result = runner.invoke(main, ["check", "--records", str(records_dir)])
    assert result.exit_code == 1, shown(result)
    lines = result.stderr.splitlines()
    assert any(re.fullmatch(r"error: no-date\.md: publishedDateTime: .+", line) for line in lines), (
        shown(result))
    assert any(re.fullmatch(r"warning: naive\.md: publishedDateTime: .+", line) for line in lines), (
        shown(result))
    assert any(re.fullmatch(r"warning: odd\.md: published: .+", line) for line in lines), (
        shown(result))
    labels = [line.split(":")[0] for line in lines]
    assert labels == sorted(labels), f"errors and warnings are listed apart: {lines}"
    assert "1 skipped" in result.stdout, shown(result)


def test_check_exits_0_when_there_are_only_warnings(runner: CliRunner, write_record: RecordWriter,
                                                    records_dir: Path, in_tmp: Path) -> None:
    write_record("naive.md", publishedDateTime="2021-03-04T05:06:07")
    write_record("draft.md", published=False, webUrl="https://e.example/draft")
    result = runner.invoke(main, ["check", "--records", str(records_dir)])
    assert result.exit_code == 0, shown(result)
    assert "warning: naive.md: publishedDateTime:" in result.stderr, shown(result)


def test_check_writes_nothing(runner: CliRunner, seeds_dir: Path, in_tmp: Path) -> None:
    result = runner.invoke(main, ["check", "--records", str(seeds_dir)])
    assert result.exit_code == 0, shown(result)
    assert list(in_tmp.iterdir()) == []


def _siblings(out: Path) -> list[str]:
    return sorted(path for path in site_files(out) if path.endswith((".gz", ".br")))


def test_precompress_comes_from_the_flag_the_environment_or_the_settings_file(
        runner: CliRunner, seeds_dir: Path, in_tmp: Path) -> None:
    out = in_tmp / "site"
    args = ["build", "--records", str(seeds_dir), "--out", str(out)]
    result = runner.invoke(main, [*args, "--precompress"])
    assert result.exit_code == 0, shown(result)
    assert {"feed.atom.gz", "feed.atom.br", "index.html.gz"} <= set(_siblings(out)), shown(result)
    result = runner.invoke(main, [*args, "--no-precompress"], env={"FEEDS_PRECOMPRESS": "1"})
    assert result.exit_code == 0 and not _siblings(out), "the command line overrides the environment"
    result = runner.invoke(main, args, env={"FEEDS_PRECOMPRESS": "yes"})
    assert result.exit_code == 0 and _siblings(out), shown(result)
    (in_tmp / "feeds.toml").write_text("precompress = false\n", encoding="utf-8")
    result = runner.invoke(main, args)
    assert result.exit_code == 0 and not _siblings(out), shown(result)


def test_build_writes_an_nginx_server_block_for_the_real_output_folder(
        runner: CliRunner, seeds_dir: Path, in_tmp: Path) -> None:
    (in_tmp / "real").mkdir()
    (in_tmp / "link").symlink_to(in_tmp / "real")
    result = runner.invoke(main, ["build", "--records", str(seeds_dir), "--out", "link/site",
                                  "--base-url", "https://news.example.org/", "--nginx-conf", "feeds.conf"])
    assert result.exit_code == 0, shown(result)
    text = (in_tmp / "feeds.conf").read_text(encoding="utf-8")
    assert f'    root "{in_tmp / "real" / "site"}";' in text, text
    assert '    server_name "news.example.org";' in text and "    listen 80;" in text
    assert "feeds.conf" in result.stdout, "the build says where the block went"


@pytest.mark.parametrize(("out", "conf", "base_url", "named"), [
    ("site", "site/nginx.conf", "https://news.example.org/", "inside the output folder"),
    ("a$host", "feeds.conf", "https://news.example.org/", "'$'"),
    ("line\nbreak\x07", "feeds.conf", "https://news.example.org/", "control character"),
    ("site", "feeds.conf", "https://example.org/news/", "has a path"),
])
def test_an_nginx_server_block_that_cannot_be_right_is_refused_before_the_build(
        runner: CliRunner, seeds_dir: Path, in_tmp: Path, out: str, conf: str, base_url: str,
        named: str) -> None:
    result = runner.invoke(main, ["build", "--records", str(seeds_dir), "--out", out,
                                  "--base-url", base_url, "--nginx-conf", conf])
    assert result.exit_code == 1 and named in result.stderr, shown(result)
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.output, shown(result)
    assert not list(in_tmp.iterdir()), "nothing is built or written"


# -- settings file ---------------------------------------------------------------------------------------


def write_settings(folder: Path, seeds_dir: Path, **extra: str) -> Path:
    """A feeds.toml in `folder` naming the seeds, an output folder and a base URL."""
    lines = [f'records = "{seeds_dir}"', 'out = "from-settings"',
             'base_url = "https://settings.example.org/"', 'site_title = "Settings Title"',
             "limit = 1"]
    lines += [f"{key} = {value}" for key, value in extra.items()]
    path = folder / "feeds.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_settings_come_from_feeds_toml(runner: CliRunner, seeds_dir: Path, in_tmp: Path) -> None:
    write_settings(in_tmp, seeds_dir)
    result = runner.invoke(main, ["build"])
    assert result.exit_code == 0, shown(result)
    atom = (in_tmp / "from-settings" / "feed.atom").read_text(encoding="utf-8")
    assert "<title>Settings Title</title>" in atom
    assert 'href="https://settings.example.org/feed.atom"' in atom
    assert atom.count("<entry>") == 1


def test_the_command_line_overrides_the_settings_file(runner: CliRunner, seeds_dir: Path,
                                                      in_tmp: Path) -> None:
    write_settings(in_tmp, seeds_dir)
    result = runner.invoke(main, ["build", "--out", "from-cli", "--base-url",
                                  "https://cli.example.org/", "--limit", "2"])
    assert result.exit_code == 0, shown(result)
    assert not (in_tmp / "from-settings").exists()
    atom = (in_tmp / "from-cli" / "feed.atom").read_text(encoding="utf-8")
    assert 'href="https://cli.example.org/feed.atom"' in atom
    assert "<title>Settings Title</title>" in atom, "what the CLI does not set stays"
    assert atom.count("<entry>") == 2


def test_a_settings_file_can_be_named_and_may_use_a_feeds_table(runner: CliRunner, seeds_dir: Path,
                                                                 in_tmp: Path, tmp_path: Path) -> None:
    path = tmp_path / "elsewhere.toml"
    path.write_text(f'[feeds]\nrecords = "{seeds_dir}"\nout = "named"\nsite_title = "Named"\n',
                    encoding="utf-8")
    result = runner.invoke(main, ["build", "--settings", str(path)])
    assert result.exit_code == 0, shown(result)
    assert "<title>Named</title>" in (in_tmp / "named" / "feed.atom").read_text(encoding="utf-8")


def test_environment_variables_sit_between_file_and_command_line(runner: CliRunner, seeds_dir: Path,
                                                                 in_tmp: Path) -> None:
    write_settings(in_tmp, seeds_dir)
    result = runner.invoke(main, ["build", "--out", "cli-out"],
                           env={"FEEDS_SITE_TITLE": "Env Title", "FEEDS_OUT": "env-out"})
    assert result.exit_code == 0, shown(result)
    assert "<title>Env Title</title>" in (in_tmp / "cli-out" / "feed.atom").read_text(encoding="utf-8")
    assert not (in_tmp / "env-out").exists()


def test_a_mistyped_settings_file_is_a_one_line_error_naming_it(runner: CliRunner,
                                                                 seeds_dir: Path,
                                                                 in_tmp: Path) -> None:
    for text in ("limit = 'many'\n", "limit = 0\n", "limit = [\n", "drafts = 'perhaps'\n"):
        (in_tmp / "feeds.toml").write_text(text, encoding="utf-8")
        result = runner.invoke(main, ["build", "--records", str(seeds_dir)])
        assert result.exit_code != 0, shown(result)
        assert "Traceback" not in result.output and "feeds.toml" in result.stderr, shown(result)
        assert result.stderr.strip().count("\n") == 0, shown(result)


def test_an_unknown_setting_names_the_settings_file(runner: CliRunner, seeds_dir: Path,
                                                    in_tmp: Path) -> None:
    """House style: an error names the file, the field and the fix."""
    (in_tmp / "feeds.toml").write_text("colour = 'blue'\n", encoding="utf-8")
    result = runner.invoke(main, ["build", "--records", str(seeds_dir)])
    assert result.exit_code != 0, shown(result)
    assert "colour" in result.stderr and "site_title" in result.stderr, shown(result)
    assert "feeds.toml" in result.stderr, f"the error must say which file:\n{shown(result)}"


# -- feeds settings: every setting, its value, where it came from (issue 18) ------------------------


def test_feeds_settings_shows_every_setting_its_value_and_where_it_came_from(
        runner: CliRunner, seeds_dir: Path, in_tmp: Path) -> None:
    from feeds.settings import OPTIONS

    (in_tmp / "feeds.toml").write_text('site_title = "From the file"\nlimit = 7\n', encoding="utf-8")
    result = runner.invoke(main, ["settings", "--json"], env={"FEEDS_LIMIT": "9", "FEEDS_DRAFTS": "yes"})
    assert result.exit_code == 0, shown(result)
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert list(rows) == [option.name for option in OPTIONS]
    for option in OPTIONS:
        row = rows[option.name]
        assert (row["default"], row["help"], row["env"]) == (
            option.default, option.help, "FEEDS_" + option.name.upper()), row
    assert (rows["site_title"]["value"], rows["site_title"]["source"]) == ("From the file", "feeds.toml")
    assert (rows["limit"]["value"], rows["limit"]["source"]) == (9, "FEEDS_LIMIT"), "the environment wins"
    assert (rows["drafts"]["value"], rows["drafts"]["source"]) == (True, "FEEDS_DRAFTS")
    out = rows["out"]
    assert (out["value"], out["source"], out["option"]) == ("public", "default", "--out"), out
    text = runner.invoke(main, ["settings"], env={"FEEDS_LIMIT": "9"}).stdout
    assert "limit = 9  (from FEEDS_LIMIT)" in text, text
    assert 'site_title = "From the file"  (from feeds.toml)' in text, text
    assert "records = \"seeds\"  (default)" in text, text
    assert all(" ".join(option.help.split()) in " ".join(text.split()) for option in OPTIONS), text


def test_feeds_settings_reads_the_named_file_and_refuses_a_bad_one_in_one_line(
        runner: CliRunner, tmp_path: Path, in_tmp: Path) -> None:
    named = tmp_path / "other.toml"
    named.write_text("[feeds]\nlimit = 3\n", encoding="utf-8")
    result = runner.invoke(main, ["settings", "--settings", str(named)])
    assert result.exit_code == 0 and f"limit = 3  (from {named})" in result.stdout, shown(result)
    named.write_text("limit = 0\n", encoding="utf-8")
    result = runner.invoke(main, ["settings", "--settings", str(named)])
    assert result.exit_code == 1 and "limit" in result.stderr and str(named) in result.stderr, shown(result)
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.output, shown(result)


# -- feeds list (issue 18) ----------------------------------------------------------------------------


def test_feeds_list_names_every_seed_feed_with_its_entries_newest_date_and_urls(
        runner: CliRunner, seeds_dir: Path, in_tmp: Path) -> None:
    base = "https://news.example.org/"
    result = runner.invoke(main, ["list", "--records", str(seeds_dir), "--base-url", base, "--json"])
    assert result.exit_code == 0, shown(result)
    feeds = json.loads(result.stdout)
    assert sorted(f["stem"] for f in feeds) == sorted(SEED_FEEDS), "the feeds a build writes"
    first = feeds[0]
    assert (first["kind"], first["key"], first["stem"], first["entries"]) == ("all", "", "feed", 2), first
    assert first["urls"] == {"atom": base + "feed.atom", "rss": base + "feed.rss", "json": base + "feed.json",
                             "page": base}, first
    assert datetime.fromisoformat(first["newest"]) == datetime(2023, 4, 2, 13, 52, tzinfo=UTC), first
    reuters = next(f for f in feeds if f["stem"] == "providers/reuters.com")
    assert (reuters["kind"], reuters["key"], reuters["entries"]) == ("provider", "reuters.com", 1), reuters
    assert reuters["urls"]["page"] == base + "providers/reuters.com/", reuters
    assert all(set(f) == {"kind", "key", "stem", "title", "entries", "newest", "urls"} for f in feeds)
    table = runner.invoke(main, ["list", "--records", str(seeds_dir), "--base-url", base])
    assert table.exit_code == 0, shown(table)
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["kind", "key", "entries", "newest", "url"] and len(lines) == len(feeds) + 1
    assert len({line.index("http") for line in lines[1:]}) == 1, "the columns are aligned"
    assert lines[1].split() == ["all", "-", "2", "2023-04-02", "13:52", base + "feed.atom"], lines[1]


def test_feeds_list_of_a_store_counts_what_each_feed_holds_and_says_when_none_yet(
        runner: CliRunner, write_record: RecordWriter, records_dir: Path, in_tmp: Path) -> None:
    write_record("a.md", topics=["Alpha"], publishedDateTime="2022-01-02T03:04:05Z",
                 webUrl="https://e.example/a")
    write_record("b.md", topics=["Alpha", "Beta"], publishedDateTime="2022-02-03T04:05:06Z",
                 webUrl="https://e.example/b")
    write_record("draft.md", published=False, topics=["Gamma"], webUrl="https://e.example/c")
    result = runner.invoke(main, ["list", "--records", str(records_dir), "--json"])
    assert result.exit_code == 0 and result.stderr == "", shown(result)
    feeds = {f["stem"]: f for f in json.loads(result.stdout)}
    assert (feeds["topics/alpha"]["entries"], feeds["topics/beta"]["entries"]) == (2, 1)
    assert feeds["topics/beta"]["newest"] == "2022-02-03T04:05:06+00:00"
    assert feeds["providers/example.com"]["title"] == "feeds: Example News"
    assert "topics/gamma" not in feeds, "an unpublished record makes no feed"
    assert (feeds["topics/beta/top"]["entries"], feeds["topics/beta/top"]["newest"]) == (0, None)
    drafts = runner.invoke(main, ["list", "--records", str(records_dir), "--drafts", "--json"])
    assert "topics/gamma" in {f["stem"] for f in json.loads(drafts.stdout)}, shown(drafts)


# -- feeds build --json, --quiet and --verbose (issue 18) ----------------------------------------------


def test_build_json_is_the_summary_alone_on_stdout(runner: CliRunner, write_record: RecordWriter,
                                                    records_dir: Path, tmp_path: Path, in_tmp: Path) -> None:
    write_record("good.md")
    write_record("bad.md", title=None, webUrl="https://e.example/bad")
    write_record("odd.md", quality="high", webUrl="https://e.example/odd")
    result = runner.invoke(main, ["build", "--records", str(records_dir), "--out", str(tmp_path / "s"),
                                  "--json"])
    assert result.exit_code == 0, shown(result)
    doc = json.loads(result.stdout)  # nothing else on stdout
    assert {k: doc[k] for k in ("read", "published", "unpublished", "duplicates", "skipped", "changed")} == {
        "read": 3, "published": 2, "unpublished": 0, "duplicates": 0, "skipped": 1,
        "changed": doc["files"]}, doc
    assert doc["feeds"] > 1 and isinstance(doc["seconds"], float) and doc["unchanged"] is False, doc
    problems = {(p["file"], p["field"], p["severity"]) for p in doc["problems"]}
    assert problems == {("bad.md", "title", "error"), ("odd.md", "quality", "warning")}, doc["problems"]
    assert all(p["message"] for p in doc["problems"]), doc["problems"]
    assert "error: bad.md: title" in result.stderr and "feeds written to" in result.stderr, shown(result)


def test_build_quiet_prints_errors_only_and_verbose_every_file(
        runner: CliRunner, write_record: RecordWriter, records_dir: Path, tmp_path: Path,
        in_tmp: Path) -> None:
    write_record("bad.md", title=None, webUrl="https://e.example/bad")
    write_record("odd.md", quality="high", webUrl="https://e.example/odd")
    out = tmp_path / "s"
    args = ["build", "--records", str(records_dir), "--out", str(out)]
    quiet = runner.invoke(main, [*args, "--quiet"])
    assert quiet.exit_code == 0 and quiet.stdout == "", shown(quiet)
    assert quiet.stderr.startswith("error: bad.md: title: ") and quiet.stderr.count("\n") == 1, shown(quiet)
    (out / "feed.atom").unlink()
    verbose = runner.invoke(main, [*args, "-v"])
    assert verbose.exit_code == 0, shown(verbose)
    assert "wrote feed.atom" in verbose.stdout.splitlines(), shown(verbose)
    assert summary(verbose)["changed"] == "1", shown(verbose)
    assert "warning: odd.md: quality" in verbose.stderr, shown(verbose)
    both = runner.invoke(main, [*args, "-q", "-v"])
    assert both.exit_code == 2 and "--quiet and --verbose" in both.stderr, shown(both)


def test_check_quiet_and_verbose(runner: CliRunner, write_record: RecordWriter, records_dir: Path,
                                 in_tmp: Path) -> None:
    write_record("bad.md", title=None, webUrl="https://e.example/bad")
    write_record("draft.md", published=False, webUrl="https://e.example/draft")
    write_record("good.md")
    write_record("same.md")  # the same link as good.md
    write_record("odd.md", quality="high", webUrl="https://e.example/odd")
    quiet = runner.invoke(main, ["check", "--records", str(records_dir), "-q"])
    assert quiet.exit_code == 1 and quiet.stdout == "", shown(quiet)
    assert [line.split(":")[0] for line in quiet.stderr.splitlines()] == ["error"], shown(quiet)
    verbose = runner.invoke(main, ["check", "--records", str(records_dir), "--verbose"])
    assert verbose.exit_code == 1, shown(verbose)
    assert verbose.stdout.splitlines()[:5] == [
        "skipped: bad.md", "unpublished: draft.md", "published: good.md", "published: odd.md",
        "duplicate: same.md"], shown(verbose)
    assert "checked 5 records" in verbose.stdout, shown(verbose)


# -- feeds serve says what it read before serving (issue 18) ------------------------------------------


@pytest.mark.parametrize("workers", [None, 2])
def test_serve_starts_with_the_builds_summary_of_the_store(runner: CliRunner, seeds_dir: Path, in_tmp: Path,
                                                           monkeypatch: pytest.MonkeyPatch,
                                                           workers: int | None) -> None:
    import flask

    import feeds.production
    started: list[object] = []
    monkeypatch.setattr(flask.Flask, "run", lambda self, **kw: started.append(kw))
    monkeypatch.setattr(feeds.production, "serve_production", lambda *args: started.append(args))
    result = runner.invoke(main, ["serve", "--records", str(seeds_dir), "--port", "5099",
                                  *(["--workers", str(workers)] if workers else [])])
    assert result.exit_code == 0 and started, shown(result)
    assert result.stdout.splitlines()[0] == (
        "read 5 records: 2 published, 3 unpublished, 0 duplicates, 0 skipped; 11 feeds"), shown(result)
    assert result.stdout.splitlines()[1].startswith("serving "), shown(result)


def test_python_dash_m_feeds_works(seeds_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FEEDS_")}
    done = subprocess.run(
        [sys.executable, "-m", "feeds", "build", "--records", str(seeds_dir), "--out", str(out)],
        cwd=tmp_path, env={**env, "PYTHONPATH": str(REPO)}, capture_output=True, text=True,
        timeout=120, check=False)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    assert SUMMARY.search(done.stdout), done.stdout
    assert len(feed_files(out)) == 15
    version = subprocess.run([sys.executable, "-m", "feeds", "--version"], cwd=tmp_path,
                             env={**env, "PYTHONPATH": str(REPO)}, capture_output=True,
                             text=True, timeout=60, check=False)
    assert version.returncode == 0 and "version" in version.stdout, version.stdout + version.stderr
