"""Ratings and suggestions: with a synthetic history the suggestion moves toward what the user rates
highest, with the reason in their figures; with no ratings (or no clear preference) it is the default.
Ratings are stored per user and generation and checked."""

from __future__ import annotations

import pytest

from core.errors import InputError
from storage.library import Actor
from workflows.preferences import check_rating, rate, suggest, suggestions


def speak_history(pairs) -> list[tuple[dict, int, list[str]]]:
    return [({"speed": speed, "style": "natural"}, stars, []) for speed, stars in pairs]


def by_param(found) -> dict:
    return {s.param: s for s in found}


def test_no_ratings_suggest_the_defaults():
    got = by_param(suggest("speak", []))
    assert (got["speed"].value, got["style"].value) == (1.0, "natural")
    assert got["speed"].reason.startswith("no ratings yet") and got["speed"].ratings == 0


def test_slower_speech_rated_higher_is_suggested_with_the_reason():
    history = speak_history([(0.8, 5), (0.8, 4), (0.85, 5), (1.0, 3), (1.0, 3), (1.2, 2)])
    got = by_param(suggest("speak", history))["speed"]
    assert got.value == pytest.approx(0.82, abs=0.01)
    assert got.reason == "you rated speech speed 0.8-0.85 4.7 (3 ratings) against 1 3.0"
    # The more the user's ratings say so, the firmer: the same preference from fewer ratings is not enough.
    assert by_param(suggest("speak", speak_history([(0.8, 5), (1.0, 4)])))["speed"].value == 1.0


def test_a_single_lucky_rating_does_not_move_the_suggestion():
    history = speak_history([(1.0, 4), (1.0, 4), (1.0, 3), (1.2, 5)])
    got = by_param(suggest("speak", history))["speed"]
    assert got.value == 1.0 and "do not favour" in got.reason


def test_the_suggestion_follows_the_preference_as_it_changes():
    """A user who first liked fast speech and then rates slow speech higher sees the suggestion move."""
    fast = [(1.2, 5), (1.2, 5), (1.0, 3), (1.0, 3)]
    assert by_param(suggest("speak", speak_history(fast)))["speed"].value == pytest.approx(1.2)
    later = fast + [(0.8, 5)] * 4 + [(1.2, 2)] * 4
    assert by_param(suggest("speak", speak_history(later)))["speed"].value == pytest.approx(0.8)


def test_categories_and_tags():
    songs = [({"music_style": "pop", "bpm": 0}, 5, []), ({"music_style": "pop", "bpm": 0}, 5, []),
             ({"music_style": "epic", "bpm": 0}, 2, []), ({"music_style": "epic", "bpm": 0}, 3, [])]
    got = by_param(suggest("song", songs))
    assert got["music_style"].value == "pop" and "'pop' 5.0 (2 ratings) against 'epic' 2.5" in got["music_style"].reason
    tagged = [({"speed": 1.0}, 3, ["too fast"]), ({"speed": 1.0}, 3, ["too fast"]), ({"speed": 1.0}, 4, [])]
    speed = by_param(suggest("speak", tagged))["speed"]
    assert speed.value == pytest.approx(0.9) and "too fast, 2 times" in speed.reason


def test_ratings_are_checked():
    assert check_rating(4, "too fast, Robotic") == (4, ["too fast", "robotic"])
    for stars in (0, 6, 3.5, True, "five"):
        with pytest.raises(InputError, match="stars must be a whole number from 1 to 5"):
            check_rating(stars, [])
    with pytest.raises(InputError, match="unknown rating tag 'meh'"):
        check_rating(3, ["meh"])


def test_ratings_are_each_users_own_and_drive_their_suggestions(sqlite_services):
    svc = sqlite_services
    lib = svc.library
    alice = Actor(svc.accounts.create_user("alice", "alice-password").id, "alice")
    bob = Actor(svc.accounts.create_user("bob", "bob-password").id, "bob")
    made = {}
    for speed in (0.8, 0.8, 1.0, 1.0):
        done, _ = svc.voices.speak("Rated speech.", "en-us", speed=speed, actor=alice)
        made.setdefault(speed, []).append(done.generation.id)
    for gid in made[0.8]:
        assert rate(lib, gid, 5, "great", alice) == {"generation_id": gid, "stars": 5, "tags": ["great"]}
    for gid in made[1.0]:
        rate(lib, gid, 4, [], alice)
        rate(lib, gid, 2, ["too fast"], alice)  # rated again: replaces the first rating
    got = by_param(suggestions(lib, "speak", alice))["speed"]
    assert got.value == pytest.approx(0.8) and got.ratings == 4 and "5.0 (2 ratings) against 1 2.0" in got.reason
    assert by_param(suggestions(lib, "speak", bob))["speed"].reason.startswith("no ratings yet")
    from storage.library import NotFound

    with pytest.raises(NotFound):
        rate(lib, made[0.8][0], 1, [], bob)  # not his to see
    with pytest.raises(InputError, match="no suggestions for 'dance'"):
        suggestions(lib, "dance", alice)
