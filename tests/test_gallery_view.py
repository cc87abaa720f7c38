"""The gallery panel, offscreen: a tile per run with its thumbnail, favourites and their filter,
clear history, play, compare; the recipe and the model card as readable forms."""

from __future__ import annotations

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtWidgets import QMessageBox  # noqa: E402

from studio.gallery import Gallery  # noqa: E402
from studio.tasks import Output  # noqa: E402
from tests.test_gallery_items import MUSIC, midi_bytes, run  # noqa: E402


@pytest.fixture
def filled(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_AUDIO", "silent")  # tests never make a sound
    g = Gallery(tmp_path / "g")
    run(MUSIC, g, seed=1)
    run(MUSIC, g, seed=2, bars=4)
    g.save(Output("Once upon a time there was a king", name="text"),
           {"task": "demo.write", "params": {}, "seed": 3})
    yield g
    g.close()


@pytest.fixture
def view(qtbot, filled):
    from studio.ui.gallery_view import GalleryView

    v = GalleryView(filled)
    qtbot.addWidget(v)
    v.resize(420, 600)
    v.show()
    yield v
    v.shutdown()


def test_a_tile_per_run_each_with_its_picture(qtbot, view):
    items = view.items()
    assert [i.title for i in items] == ["8 words, seed 3", "4 bars, C major, seed 2",
                                        "2 bars, C major, seed 1"]
    for item in items:
        view.thumbnail(item)
    qtbot.waitUntil(lambda: not view.thumbnails_pending(), timeout=20000)
    roll = view.thumbnail(items[1])
    assert not roll.isNull() and roll.width() == 320  # the piano roll, not a letter tile
    page = view.thumbnail(items[0])
    assert page.width() == 320
    assert items[1].id in (p.name[:len(items[1].id)] for p in
                           (view.gallery.root / ".thumbnails").iterdir())  # cached on disk
    # the tiles share the width: as many columns of at least TILE_MIN_W as fit
    from studio.ui.gallery_view import TILE_MIN_W

    columns = view.list.viewport().width() // view.list.tile.width()
    assert view.list.tile.width() >= TILE_MIN_W and columns >= 3


def test_favourites_filter_and_clear_history(qtbot, view, monkeypatch):
    music = view.items()[2]
    view.list.item(2).setSelected(True)
    view.toggle_favourite()
    assert view.gallery.favourites() == {music.id}
    view.favourites_only.setChecked(True)
    assert [i.id for i in view.items()] == [music.id] and view.items()[0].favourite
    view.favourites_only.setChecked(False)
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.Yes)
    view.clear_history()
    assert asked == ["Delete 2 items and their files? The 1 favourite stay."]
    assert [i.id for i in view.items()] == [music.id]
    assert all(e.path.exists() for e in music.entries)


def test_play_shows_the_bar_and_stop_hides_it(qtbot, view):
    item = view.items()[1]
    view.play(item)
    assert view.playing_id == item.id and view.play_bar.isVisible()
    assert view.play_label.text() == "♪ 4 bars, C major, seed 2"
    qtbot.waitUntil(lambda: view.play_time.text().endswith("/ 0:01"), timeout=5000)
    view.stop()
    assert view.playing_id is None and not view.play_bar.isVisible()
    text = view.items()[0]
    view.activate(text)  # no sound: opening its file instead does not play
    assert view.playing_id is None


def test_compare_marks_the_settings_that_differ(qtbot, view):
    from studio.ui.gallery_compare import CompareDialog

    _, b, a = view.items()
    dialog = CompareDialog(a, b, view)
    qtbot.addWidget(dialog)
    shown = [tuple(dialog.table.item(r, c).text() for c in range(3))
             for r in range(dialog.table.rowCount())]
    assert ("Seed", "1", "2") in shown and ("Bars", "2", "4") in shown
    assert ("Made", "2 bars, C major", "4 bars, C major") in shown
    assert all(x != y for _, x, y in shown)  # only the differences at first
    dialog.only_differences.setChecked(False)
    assert dialog.table.rowCount() == len(dialog.rows) > len(shown)
    play_b = dialog.play_buttons[b.id][0]
    play_b.click()
    assert view.playing_id == b.id and play_b.text() == "Stop B"
    play_b.click()
    assert view.playing_id is None and play_b.text() == "Play B"


def test_a_dragged_tile_is_its_files(view):
    item = view.items()[1]
    urls = view.list.mimeData([view.list.item(1)]).urls()
    assert [u.toLocalFile() for u in urls] == [str(e.path) for e in item.entries]


def test_recipe_and_card_read_as_forms(qtbot, filled, registry):
    from studio.models import ModelStore
    from studio.ui.dialogs import CardDialog, RecipeDialog, command_line
    from tests.test_gallery import _run_into

    _run_into(registry, "testkit.noise", filled, width=8, height=8, steps=1)
    item = filled.items()[0]
    dialog = RecipeDialog(item, registry)
    qtbot.addWidget(dialog)
    lines = dialog.page.toPlainText().splitlines()
    assert lines[0] == "8x8, seed 1234"
    assert "Width\n8" in "\n".join(lines) or "Width 8" in " ".join(lines)
    assert command_line(registry.task("testkit.noise"), item.recipe) == \
        "studio run testkit.noise --width 8 --height 8 --steps 1 --seed 1234"
    assert "studio run testkit.noise --width 8 --height 8 --steps 1 --seed 1234" in lines
    card = ModelStore.from_registry(registry).get("testkit.tiny")
    card.quality = {"val_loss_per_char": 1.51, "by_file": {"a.txt": 1.4}}
    card_dialog = CardDialog(card)
    qtbot.addWidget(card_dialog)
    page = card_dialog.page.toPlainText()
    for words in ("Tiny test model", "Licence", "CC0-1.0", "Measured quality",
                  "Val loss per char", "1.51", "A.txt", "1.4"):
        assert words in page, words


def test_the_midi_of_a_run_is_shown_even_when_saved_after_its_wav(qtbot, tmp_path):
    g = Gallery(tmp_path)
    recipe = {"task": "demo.music", "params": {}, "seed": 4, "run": "r1", "duration_s": 0.1}
    from tests.test_gallery_items import wav_bytes

    g.save(Output(wav_bytes(), name="music", suffix=".wav"), recipe)
    g.save(Output(midi_bytes(), name="music", suffix=".mid"), recipe)
    [item] = g.items()
    assert item.primary.path.suffix == ".mid" and item.audio.path.suffix == ".wav"


def test_keys_on_the_gallery(qtbot, view, monkeypatch):
    from PySide6.QtCore import Qt

    view.list.setFocus()
    view.list.setCurrentRow(1)
    item = view.items()[1]
    qtbot.keyClick(view.list, Qt.Key_F)
    assert view.gallery.favourites() == {item.id}
    view.list.setCurrentRow(1)
    qtbot.keyClick(view.list, Qt.Key_Space)
    assert view.playing_id == item.id
    qtbot.keyClick(view.list, Qt.Key_Space)
    assert view.playing_id is None
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.Yes)
    view.list.clearSelection()
    view.list.setCurrentRow(0)
    qtbot.keyClick(view.list, Qt.Key_Delete)
    assert [i.title for i in view.items()] == ["4 bars, C major, seed 2",
                                               "2 bars, C major, seed 1"]
