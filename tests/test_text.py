"""Cleaning text, URLs and topic slugs as PRODUCT.md's "what the W3C validator wants" says."""

from __future__ import annotations

import re
import time

import pytest

from feeds.text import BadURL, clean_text, clean_url, topic_slug

# -- clean_text: plain, XML-safe, single-line text ----------------------------------------


@pytest.mark.parametrize(("raw", "clean"), [
    ("â€œQuotedâ€\x9d", "“Quoted”"),
    ("Moscowâ€™s cameras", "Moscow’s cameras"),
    ("the clause â€œidentification through facial ...", "the clause “identification through facial ..."),
])
def test_mojibake_is_repaired(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(("raw", "clean"), [
    ("It&#8217;s", "It’s"),
    ("It&amp;#8217;s", "It’s"),           # escaped twice
    ("It&amp;amp;#8217;s", "It’s"),       # escaped three times
    ("H&amp;M", "H&M"),
    ("Tom &amp; Jerry &lt;3", "Tom & Jerry <3"),
    ("caf&eacute;", "café"),
])
def test_entities_are_unescaped_to_a_fixed_point(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_plain_ampersands_and_angle_brackets_stay_text() -> None:
    assert clean_text("H&M and AT&T") == "H&M and AT&T"
    assert clean_text("1 < 2 and 3 > 2") == "1 < 2 and 3 > 2"


@pytest.mark.parametrize("char", [
    "\x00", "\x01", "\x08", "\x0b", "\x0c", "\x0e", "\x1f", "\x7f",
    "\ufffe", "\uffff", "\ufdd0", "\U0001fffe", "\U0010ffff",
])
def test_characters_xml_forbids_are_removed(char: str) -> None:
    assert clean_text(f"a{char}b") == "ab", f"{char!r} must not survive cleaning"


@pytest.mark.parametrize("char", [chr(c) for c in range(0x80, 0xA0)])
def test_c1_controls_never_survive(char: str) -> None:
    """C1 controls are repaired as the cp1252 characters they stand for (ftfy) or removed."""
    cleaned = clean_text(f"a{char}b")
    assert not re.search("[\x80-\x9f]", cleaned), f"{char!r} -> {cleaned!r}"
    assert cleaned.startswith("a") and cleaned.endswith("b")


def test_characters_xml_allows_are_kept() -> None:
    text = "Zürich – 東京 – emoji 😀 – Ελληνικά"
    assert clean_text(text) == text


@pytest.mark.parametrize(("raw", "clean"), [
    ("<b>Bold</b> claim", "Bold claim"),
    ("<p>One</p><p>Two</p>", "One Two"),
    ("Hello <script>alert(1)</script>world", "Hello world"),
    ("<style>p{}</style>Styled", "Styled"),
    ('<img src=x onerror="alert(1)">Caption', "Caption"),
    ("&lt;b&gt;Escaped&lt;/b&gt; markup", "Escaped markup"),
    ("Broken <a href='x'>link", "Broken link"),
    ('<a title="x > y">Quoted</a> angle', "Quoted angle"),
    ("One<br>Two<br/>Three</p>Four", "One Two Three Four"),
    ("a <!-- a comment --> b", "a b"),
    ("a <!--> b <!---> c", "a b c"),
    ("kept <!-- a comment never closed", "kept"),
    ("kept <a href='never closed", "kept"),
    ("kept <b", "kept"),
    ("x<SCRIPT>if (a < b) {}</script >y", "xy"),
    ("x <script>never closed", "x"),
    ("x <template><b>hidden</b></template> y <object><p>o</p></object> z", "x y z"),
    ("x <? processing instruction ?> y", "x y"),
    ("x <!DOCTYPE html> y", "x y"),
    ("x </ bogus > y", "x y"),
    ("x</>y", "xy"),
    ("5 <10 and 7 > 3", "5 <10 and 7 > 3"),
    ("x < y", "x < y"),
    ("ends with </", "ends with </"),
])
def test_markup_is_stripped_from_plain_text(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(("raw", "clean"), [
    ("  padded  ", "padded"),
    ("many   inner \t spaces", "many inner spaces"),
    ("line\nbreaks\r\nand\rreturns", "line breaks and returns"),
    ("\u00a0non-breaking\u00a0", "non-breaking"),
    ("", ""),
    (" \n\t ", ""),
])
def test_white_space_is_folded_and_stripped(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


def test_long_text_is_cut_at_a_word_with_an_ellipsis() -> None:
    text = "word " * 100
    cut = clean_text(text, max_chars=50)
    assert len(cut) <= 50
    assert cut.endswith("…")
    assert cut[:-1].split() == ["word"] * len(cut[:-1].split()), f"cut mid-word: {cut!r}"


# -- clean_url: absolute, entity-free, percent-encoded http(s) ---------------------------


@pytest.mark.parametrize(("raw", "clean"), [
    ("https://www.courant.com/a.jpg?w=1024&#038;h=670", "https://www.courant.com/a.jpg?w=1024&h=670"),
    ("https://e.com/a?x=1&amp;y=2", "https://e.com/a?x=1&y=2"),
    ("https://e.com/a?x=1&amp;amp;y=2", "https://e.com/a?x=1&y=2"),
])
def test_entities_in_urls_are_unescaped(raw: str, clean: str) -> None:
    assert clean_url(raw) == clean


@pytest.mark.parametrize("raw", [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    "java\nscript:alert(1)",
    " javascript:alert(1)",
    "&#106;avascript:alert(1)",
    "vbscript:msgbox(1)",
    "data:text/html,<script>alert(1)</script>",
    "file:///etc/passwd",
    "ftp://files.example.com/x",
    "//evil.example.com/x",
    "/relative/path",
    "relative/path",
    "mailto:someone@example.com",
    "https://",
    "https://exa mple.com/",
    "https://under_score.example.com/",
    "",
])
def test_anything_but_an_absolute_http_url_is_refused(raw: str) -> None:
    with pytest.raises(BadURL):
        clean_url(raw)


def test_a_refusal_says_what_is_wrong() -> None:
    with pytest.raises(BadURL, match="javascript"):
        clean_url("javascript:alert(1)")


@pytest.mark.parametrize(("raw", "clean"), [
    ("https://bücher.example/ü", "https://xn--bcher-kva.example/%C3%BC"),
    ("https://MÜNCHEN.example/", "https://xn--mnchen-3ya.example/"),
])
def test_internationalised_host_names_become_idna(raw: str, clean: str) -> None:
    assert clean_url(raw) == clean


@pytest.mark.parametrize(("raw", "clean"), [
    ("https://e.com/a b", "https://e.com/a%20b"),
    ('https://e.com/say"hi"', "https://e.com/say%22hi%22"),
    ("https://e.com/<tag>", "https://e.com/%3Ctag%3E"),
    ("https://e.com/?q=a b#frag ment", "https://e.com/?q=a%20b#frag%20ment"),
    ("https://e.com/100%", "https://e.com/100%25"),
    ("https://e.com/already%20encoded", "https://e.com/already%20encoded"),
])
def test_what_a_uri_may_not_hold_is_percent_encoded(raw: str, clean: str) -> None:
    assert clean_url(raw) == clean


def test_scheme_and_host_are_lowercased_path_is_kept() -> None:
    assert clean_url("HTTPS://WWW.Example.COM/Path/To") == "https://www.example.com/Path/To"


def test_surrounding_white_space_is_dropped() -> None:
    assert clean_url("  https://e.com/a\n") == "https://e.com/a"


@pytest.mark.parametrize(("raw", "clean"), [
    ("https://e.com/story-", "https://e.com/story-"),
    ("https://e.com/caf\u00e9-", "https://e.com/caf%C3%A9-"),
    ("https://e.com/a b-", "https://e.com/a%20b-"),
    ("https://e.com/a?sort=-", "https://e.com/a?sort=-"),
])
def test_a_url_keeps_a_trailing_hyphen(raw: str, clean: str) -> None:
    """A trailing hyphen is part of the URL: dropping it links to another page."""
    assert clean_url(raw) == clean


def test_clean_urls_come_back_unchanged() -> None:
    url = "https://www.reuters.com/article/russia-privacy-lawsuit/feature-idUSL8N2HQ44M?x=1&y=2#top"
    assert clean_url(url) == url
    assert clean_url(clean_url("https://bücher.example/a b?x=1&#038;y")) == clean_url(
        "https://bücher.example/a b?x=1&#038;y"), "cleaning must be idempotent"


# -- topic_slug: lowercase ASCII, never empty, never a path trick -----------------------

SLUG = re.compile(r"^[a-z0-9_][a-z0-9_-]*$")
WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)")


@pytest.mark.parametrize(("name", "slug"), [
    ("Computer Vision", "computer-vision"),
    ("AI", "ai"),
    ("computer vision", "computer-vision"),
    ("COMPUTER-VISION", "computer-vision"),
    ("computer_vision", "computer-vision"),
    ("Zeta.Topic", "zeta-topic"),
    ("Ελληνικά", "ellenika"),
])
def test_topic_slugs_are_lowercase_ascii(name: str, slug: str) -> None:
    assert topic_slug(name) == slug


@pytest.mark.parametrize("name", [
    "..", ".", "../../etc", "/tmp/x", "a/../../b", "..\\..\\windows", "foo/bar",
    "%2e%2e%2f", "~/.ssh", "../" * 16 + "tmp/escape", "\x00null", " leading space",
])
def test_topic_slugs_are_never_a_path_trick(name: str) -> None:
    slug = topic_slug(name)
    assert slug == "" or SLUG.match(slug), f"{name!r} -> {slug!r}"
    assert "/" not in slug and "\\" not in slug and slug not in (".", "..")


@pytest.mark.parametrize("name", ["con", "CON", "aux", "nul", "prn", "com1", "lpt9", "Con"])
def test_topic_slugs_are_never_a_windows_reserved_name(name: str) -> None:
    slug = topic_slug(name)
    assert slug, f"{name!r} has letters: it deserves a slug"
    assert SLUG.match(slug), f"{name!r} -> {slug!r}"
    assert not WINDOWS_RESERVED.match(slug), f"{name!r} -> {slug!r} cannot be a Windows file name"


@pytest.mark.parametrize("name", ["", "   ", "!!!", "..", "---", "\u200b"])
def test_names_without_letters_or_digits_have_no_slug(name: str) -> None:
    assert topic_slug(name) == "", "an empty slug tells the reader to drop the topic"


def test_long_topic_names_give_bounded_slugs() -> None:
    assert len(topic_slug("word " * 100, max_chars=80)) <= 80


@pytest.mark.parametrize("unit", ["<a ", "<a b='", '<a b="', "<!-- ", "<iframe ", "<script>", "<p>", "&amp;",
                                  "</a ", "<! ", "<template>", "Ã©", "\x85"])
def test_cleaning_takes_time_linear_in_the_text(unit: str) -> None:
    """Four times the text takes about four times as long, never sixteen (issue 12, item 2)."""
    def seconds(n: int) -> float:
        text = unit * (n // len(unit))
        started = time.perf_counter()
        clean_text(text, max_chars=500)
        return time.perf_counter() - started

    small = min(seconds(50_000) for _ in range(3))
    large = min(seconds(200_000) for _ in range(3))
    assert large < 10 * max(small, 0.002), f"{unit!r}: {small:.4f}s for 50 KB, {large:.4f}s for 200 KB"
