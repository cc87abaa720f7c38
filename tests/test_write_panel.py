"""The Write panel, offscreen, with a tiny random model in the user's store."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QTextCursor

from studio.ui.jobs import JobState

SEED = 1  # a seed whose random-model text runs past 12 tokens before an end-of-text token


def make_tiny_model(model_id: str = "write.tiny") -> None:
    import torch
    from safetensors.torch import save_file

    from studio import paths
    from studio.models import ModelCard, ModelFile, sha256_file
    from studio_write.gpt import GPT, GPTConfig
    from studio_write.loading import fp16_state_dict
    from studio_write.tokenizer import train_bpe

    torch.manual_seed(0)  # the same random model every run
    tok = train_bpe(["the cat sat on the mat. " * 50, "a dog ran far away! " * 50], 300)
    cfg = GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=16)
    folder = paths.models_dir() / model_id
    folder.mkdir(parents=True)
    save_file(fp16_state_dict(GPT(cfg)), str(folder / "model.safetensors"))
    tok.save(folder / "tokenizer.json")
    files = [ModelFile(n, sha256_file(folder / n), (folder / n).stat().st_size)
             for n in ("model.safetensors", "tokenizer.json")]
    ModelCard(id=model_id, capability="write", title="Tiny", architecture="gpt",
              config=cfg.to_dict(), files=files, licence="CC0-1.0", training_data="test text",
              command="tests", quality={}).save(folder / "card.json")


@pytest.fixture
def panel(qtbot, user_data):
    from studio.gallery import Gallery
    from studio.models import ModelStore
    from studio.plugins import load_plugins
    from studio.ui.main_window import MainWindow

    make_tiny_model()
    registry = load_plugins(disable=set())
    w = MainWindow(registry, Gallery(), ModelStore.from_registry(registry), device="cpu")
    qtbot.addWidget(w)
    w.show()
    p = w.panels["write"]
    p.model.setCurrentIndex(p.model.findData("write.tiny"))
    yield p
    w.jobs.cancel_all()
    w.jobs.wait(5000)


def test_the_continuation_streams_into_the_editor_in_its_own_colour(qtbot, panel):
    panel.editor.setPlainText("the cat")
    panel.max_tokens.setValue(12)
    panel.seed.setValue(SEED)
    job = panel.generate()
    qtbot.waitUntil(lambda: job.reported, timeout=30000)
    assert job.state is JobState.DONE
    text = panel.editor.toPlainText()
    assert text.startswith("the cat") and len(text) > len("the cat")
    assert len(panel.odds) == 12
    assert all(len(o["top"]) == 10 for o in panel.odds)
    # a generated character carries the index of the odds it was drawn from
    cursor = panel.editor.textCursor()
    cursor.setPosition(len("the cat") + 1)  # just after the first generated character
    panel.editor.setTextCursor(cursor)
    assert "was drawn" in panel.chart.title
    saved = panel.host.gallery.entries()[0].path.read_text()
    assert saved == text


def test_continue_from_the_cursor_keeps_the_text_after_it(qtbot, panel):
    panel.editor.setPlainText("the cat|the end")
    cursor = panel.editor.textCursor()
    cursor.setPosition(len("the cat"))
    panel.editor.setTextCursor(cursor)
    panel.max_tokens.setValue(5)
    job = panel.generate(from_cursor=True)
    qtbot.waitUntil(lambda: job.reported, timeout=30000)
    text = panel.editor.toPlainText()
    assert text.startswith("the cat") and text.endswith("|the end")
    assert job.params.prompt == "the cat"


def test_stop_ends_the_stream(qtbot, panel):
    panel.max_tokens.setValue(8000)
    panel.seed.setValue(SEED)
    panel.editor.moveCursor(QTextCursor.End)
    job = panel.generate()
    qtbot.waitUntil(lambda: len(panel.odds) >= 3, timeout=30000)
    panel.stop_job()
    qtbot.waitUntil(lambda: job.reported, timeout=5000)
    assert job.state is JobState.CANCELLED
    assert len(panel.odds) < 8000
    assert panel.generate_button.isEnabled()


def test_an_unknown_model_is_a_message_not_a_crash(qtbot, panel):
    panel.model.setEditText("write.nope")
    job = panel.generate()
    qtbot.waitUntil(lambda: job.reported, timeout=30000)
    assert job.state is JobState.FAILED
    assert "unknown model" in job.error
    assert panel.status.text().startswith("Failed")


def test_the_training_files_field_has_a_browse_button_that_takes_several_files(panel, tmp_path):
    tab = panel.train_tab
    panel.tabs.setCurrentWidget(tab)
    assert tab.files_button.isVisibleTo(tab) and tab.files_button.text() == "Browse…"
    a, b = tmp_path / "a.txt", tmp_path / "b.md"
    tab.browse_files([str(a), str(b)])  # what the dialog returns
    assert tab.form.values()["files"] == f"{a}|{b}"


def test_training_draws_the_losses_and_a_sample_and_offers_the_new_model(qtbot, panel, tmp_path):
    text = tmp_path / "fables.txt"
    text.write_text("The fox saw the grapes and said they were sour. " * 300, encoding="utf-8")
    tab = panel.train_tab
    panel.tabs.setCurrentWidget(tab)
    assert panel.handle_drop([text])  # a file dropped on the Train tab is the training text
    assert tab.form.values()["files"] == str(text)
    tab.form.set_values({**tab.form.values(), "model_id": "write.fables", "vocab_size": 300,
                         "n_layer": 1, "n_head": 2, "n_embd": 16, "block_size": 16,
                         "batch_size": 4, "max_iters": 4, "eval_interval": 2,
                         "warmup_iters": 1})
    assert tab.resume_button.isVisibleTo(tab)  # write.train can resume; the buttons say which
    assert not tab.form.widgets["resume"].isVisibleTo(tab)
    job = tab.train()
    qtbot.waitUntil(lambda: job.reported, timeout=60000)
    assert job.state is JobState.DONE, job.error
    assert job.params.resume is False
    assert tab.loss_chart.steps == [2, 4]
    assert all(v > 0 for v in tab.loss_chart.values["train"] + tab.loss_chart.values["validation"])
    assert tab.sample_text.toPlainText()
    assert "val loss" in tab.evaluation.text() and tab.status.text() == "Done"
    assert panel.model.findData("write.fables") >= 0  # ready to write with

    tab.form.set_values({**tab.form.values(), "max_iters": 6})
    resumed = tab.train(resume=True)
    qtbot.waitUntil(lambda: resumed.reported, timeout=60000)
    assert resumed.state is JobState.DONE and resumed.params.resume is True
    assert tab.loss_chart.steps == [2, 4, 6]  # the curve goes on

    again = tab.train()  # afresh: the last run's curve, figures and sample are cleared
    assert tab.loss_chart.steps == [] and tab.evaluation.text() == ""
    assert tab.sample_text.toPlainText() == ""
    tab.stop()
    qtbot.waitUntil(lambda: again.reported, timeout=60000)

    # the model just trained is offered to start from; its shape and vocabulary come with it
    tab.form.refresh_models()
    picker = tab.form.widgets["start_from"]
    assert picker.findData("write.fables") >= 0
    tab.form.widgets["n_layer"].setValue(3)
    picker.setCurrentIndex(picker.findData("write.fables"))
    assert tab.form.values()["start_from"] == "write.fables"
    assert not tab.form.widgets["tokenizer"].isEnabled()
    assert not tab.form.widgets["n_layer"].isEnabled()
    assert tab.form.values()["n_layer"] == 1 and tab.form.values()["n_embd"] == 16  # the model's
    assert tab.form.widgets["max_iters"].isEnabled()


def run(qtbot, job):
    qtbot.waitUntil(lambda: job.reported, timeout=30000)
    assert job.state is JobState.DONE, job.error
    return job


def test_generate_again_starts_from_the_prompt_continue_and_regenerate(qtbot, panel):
    panel.editor.setPlainText("the cat")
    panel.max_tokens.setValue(6)
    panel.seed.setValue(SEED)
    first = run(qtbot, panel.generate())
    after_first = panel.editor.toPlainText()
    assert panel.status.text() == f"Done: {panel.run_tokens} tokens" and panel.run_tokens == 6

    panel.seed.setValue(SEED + 1)
    again = run(qtbot, panel.generate())  # a new take from the prompt, not a continuation
    assert again.params.prompt == first.params.prompt == "the cat"
    text = panel.editor.toPlainText()
    assert text.startswith("the cat") and text != after_first
    assert text == panel.host.gallery.entries()[0].path.read_text()  # prompt + this take only
    assert panel.status.text() == "Done: 6 tokens"  # the counter is this run's, not the sum

    cont = run(qtbot, panel.continue_text())  # goes on from the whole text
    assert cont.params.prompt == text
    continued = panel.editor.toPlainText()
    assert continued.startswith(text) and len(continued) > len(text)

    panel.seed.setValue(SEED + 2)
    redo = run(qtbot, panel.regenerate())  # replaces the continuation only
    assert redo.params.prompt == text
    assert panel.editor.toPlainText() == panel.host.gallery.entries()[0].path.read_text()

    panel.seed.setValue(SEED)
    back = run(qtbot, panel.generate())  # from the first prompt again: the first take
    assert back.params.prompt == "the cat"
    assert panel.editor.toPlainText() == after_first


def test_text_typed_after_a_take_is_kept_and_becomes_the_prompt(qtbot, panel):
    panel.editor.setPlainText("the cat")
    panel.max_tokens.setValue(4)
    panel.seed.setValue(SEED)
    run(qtbot, panel.generate())
    panel.editor.moveCursor(QTextCursor.End)
    panel.editor.insertPlainText(" and then")
    typed = panel.editor.toPlainText()
    job = run(qtbot, panel.generate())
    assert job.params.prompt == typed  # the user's words are never taken away
    assert panel.editor.toPlainText().startswith(typed)


def test_clearing_the_text_resets_the_token_counter(qtbot, panel):
    panel.editor.setPlainText("the cat")
    panel.max_tokens.setValue(5)
    panel.seed.setValue(SEED)
    run(qtbot, panel.generate())
    run(qtbot, panel.continue_text())
    assert len(panel.odds) == 10
    panel.editor.clear()
    assert panel.odds == [] and panel.status.text() == "Ready"
    assert not panel.regenerate_button.isEnabled()
    panel.editor.setPlainText("a dog")
    run(qtbot, panel.generate())
    assert panel.status.text() == "Done: 5 tokens" and len(panel.odds) == 5


def test_save_and_export_write_the_text(qtbot, panel, tmp_path):
    panel.editor.setPlainText("the cat")
    panel.max_tokens.setValue(4)
    panel.seed.setValue(SEED)
    run(qtbot, panel.generate())
    text = panel.editor.toPlainText()
    story = tmp_path / "story.txt"
    assert panel.save(story) == story
    assert story.read_text(encoding="utf-8") == text
    assert panel.status.text() == f"Saved {story}"
    panel.editor.moveCursor(QTextCursor.End)
    panel.editor.insertPlainText(" The end.")
    assert panel.save() == story  # Save again writes the same file
    assert story.read_text(encoding="utf-8") == text + " The end."

    page = panel.export(tmp_path / "story.html")
    html = page.read_text(encoding="utf-8")
    assert "the cat" in html and "#e0a458" in html  # the model's words in their colour
    assert panel.export(tmp_path / "story.md").read_text(encoding="utf-8") == text + " The end."

    assert panel.save(tmp_path / "no such folder" / "x.txt") is None
    assert panel.status.text().startswith("Cannot write x.txt: ")
    assert story.read_text(encoding="utf-8") == text + " The end."  # nothing lost
