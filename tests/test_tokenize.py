import pytest

from tagger.tokenize import tokenize


@pytest.mark.parametrize(
    "text, tokens",
    [
        (
            "EU rejects German call to boycott British lamb.",
            ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
        ),
        ("The U.S. economy grew.", ["The", "U.S.", "economy", "grew", "."]),
        ("Shares rose 3.5 percent", ["Shares", "rose", "3.5", "percent"]),
        ("a well-known fact", ["a", "well-known", "fact"]),
        ("It cost 1,000,000 dollars", ["It", "cost", "1,000,000", "dollars"]),
        ("Peter Blackburn , BRUSSELS 1996-08-22", ["Peter", "Blackburn", ",", "BRUSSELS", "1996-08-22"]),
        ('He said: "No!"', ["He", "said", ":", '"', "No", "!", '"']),
        ("(Reuters) -", ["(", "Reuters", ")", "-"]),
        ("e.g. this", ["e.g.", "this"]),
        ("O'Neill's", ["O'Neill's"]),
        ("Zürich  naïve\tcafé\n", ["Zürich", "naïve", "café"]),
        ("ends with 3.", ["ends", "with", "3", "."]),
        ("", []),
        ("   ", []),
    ],
)
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_tokenize_never_loses_non_space_characters():
    text = "EU's U.S.-based arm (est. 1996) sold 3,5 m. shares -- for $4.20/each!"
    tokens = tokenize(text)
    assert "".join(tokens) == "".join(text.split())
    assert all(t.strip() == t and t for t in tokens)
