"""Deterministic text pools for the generator: realistic, and full of the values that break copies.

Everything here is built from a seeded ``random.Random``, so a seed gives the same text on every
machine. The pools deliberately carry what real Stack Overflow text carries and what a naive
copy gets wrong: backslashes and ``\\N`` in code, tabs, CRLF, trailing spaces, quotes, HTML,
non-ASCII (Latin, Cyrillic, CJK) and non-BMP characters (emoji, mathematical letters).
"""

from __future__ import annotations

import random

CORPUS_CHARS = 1 << 19  # ~512K characters: long enough that slices rarely repeat

_WORDS = (
    "the a to is in it of and that for you this with on can be not have are if but use using "
    "what how when from value table query index file function method class object string list "
    "array error server database column row null key type return code data loop thread memory "
    "python java javascript sql c# php jquery android iphone html css regex linq wpf asp.net "
    "performance exception compile build deploy git branch merge test unit mock api json xml "
    "café naïve façade résumé über straße señor Zürich Ελληνικά Москва данные 数据库 東京 서울 "
).split()

_NON_BMP = ("😀", "🚀", "👍", "🐍", "𝔘", "𝒳", "𠜎", "🙂")

_CODE = (
    "<pre><code>SELECT * FROM [dbo].[Users] WHERE Id = @id;\r\n</code></pre>",
    '<pre><code>path = "C:\\\\temp\\\\new\\\\table.txt"\n</code></pre>',
    '<pre><code>printf("%d\\n", x);\treturn 0;\n</code></pre>',
    "<pre><code>COPY t FROM STDIN; -- a literal \\N is not NULL\n</code></pre>",
    "<pre><code>if (a &lt; b &amp;&amp; c &gt; d) {\n\tfoo();\n}\n</code></pre>",
    "<pre><code>var re = /^\\s+|\\s+$/g;\n</code></pre>",
    "<blockquote>It's \"quoted\" and 'single-quoted'.</blockquote>",
)


def _sentence(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(4, 18))
    if rng.random() < 0.04:
        words.insert(rng.randrange(len(words)), rng.choice(_NON_BMP))
    text = " ".join(words)
    return text[0].upper() + text[1:] + rng.choice((".", ".", ".", "?", "!", ":"))


def build_corpus(seed: int) -> str:
    """Return ~CORPUS_CHARS characters of HTML-ish post text, the same for the same seed."""
    rng = random.Random(f"{seed}:corpus")
    parts: list[str] = []
    size = 0
    while size < CORPUS_CHARS:
        roll = rng.random()
        if roll < 0.15:
            part = rng.choice(_CODE)
        elif roll < 0.20:
            part = "\r\n"  # Windows line endings, as pasted into many posts
        elif roll < 0.23:
            part = "  "  # double spaces, sometimes before a line end (trailing spaces)
        else:
            part = "<p>" + " ".join(_sentence(rng) for _ in range(rng.randint(1, 5))) + "</p>\n"
        parts.append(part)
        size += len(part)
    return "".join(parts)


_SYLLABLES = "an ber cor dan el fi gor han is jo ka li mo nu ol pe qu ra si to ul vi wa xe yo zu".split()
_FANCY_NAMES = ("José", "Zoë", "Łukasz", "Андрей", "李明", "さくら", "Jürgen", "Ngô", "Søren", "François")


def display_name(rng: random.Random) -> str:
    """A user display name of at most 40 characters, sometimes non-ASCII or with a trailing space."""
    roll = rng.random()
    if roll < 0.08:
        name = rng.choice(_FANCY_NAMES) + " " + "".join(rng.choices(_SYLLABLES, k=2)).title()
    elif roll < 0.10:
        name = "user" + str(rng.randrange(10_000_000))
    else:
        name = "".join(rng.choices(_SYLLABLES, k=rng.randint(2, 4))).title()
    if rng.random() < 0.01:
        name += " "  # real names keep trailing spaces; a trimming copy would lose them
    if rng.random() < 0.003:
        name += rng.choice(_NON_BMP)
    return name[:40]


LOCATIONS = (
    "Seattle, WA",
    "London, United Kingdom",
    "Bangalore, India",
    "São Paulo, Brazil",
    "Zürich, Switzerland",
    "Москва, Россия",
    "東京都",
    "Kraków, Poland",
    "New York, NY",
    "Berlin, Germany",
    "Toronto, Canada",
    "Sydney, Australia",
    "Paris, France",
    "Amsterdam ",
)

BADGE_NAMES = (
    "Teacher",
    "Student",
    "Supporter",
    "Editor",
    "Autobiographer",
    "Critic",
    "Scholar",
    "Commentator",
    "Nice Answer",
    "Nice Question",
    "Popular Question",
    "Notable Question",
    "Famous Question",
    "Good Answer",
    "Great Answer",
    "Enlightened",
    "Necromancer",
    "Revival",
    "Yearling",
    "Civic Duty",
    "Organizer",
    "Cleanup",
    "Tumbleweed",
    "Citizen Patrol",
    "Disciplined",
    "Peer Pressure",
    "Self-Learner",
    "Fanatic",
    "Enthusiast",
    "Mortarboard",
    "Epic",
    "Legendary",
    "Pundit",
    "Taxonomist",
    "Strunk & White",
    "Copy Editor",
    "Archaeologist",
    "Guru",
    "Populist",
    "Reversal",
    "Sportsmanship",
    "c#",
    ".net",
    "c++",
    "java",
    "python",
    "javascript",
    "sql-server",
    "asp.net-mvc",
    "jquery",
    "iphone",
)

TAGS = (
    "c#",
    ".net",
    "java",
    "python",
    "javascript",
    "php",
    "jquery",
    "c++",
    "sql",
    "sql-server",
    "asp.net",
    "iphone",
    "android",
    "html",
    "css",
    "mysql",
    "ruby-on-rails",
    "objective-c",
    "wpf",
    "linq",
    "regex",
    "django",
    "xml",
    "windows",
    "linux",
    "git",
    "performance",
    "multithreading",
    "unit-testing",
    "c",
    "arrays",
    "string",
    "database",
    "winforms",
    "visual-studio",
    "vb.net",
)
