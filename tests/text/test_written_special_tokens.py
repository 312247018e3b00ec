"""A text that writes out one of the tokenizer's special tokens ("[SEP]", "[CLS]", "</s>",
"<|endoftext|>"; data exported with the markers of a training pipeline) is read by the model as that
token, not as its characters: a second [CLS] or a separator mid-text, which the explanations then
rank as a word. Nothing said so; a note names the rows and the tokens."""

from __future__ import annotations

from .text_rows import TextRows


def test_special_tokens_written_in_a_text_are_noted(tiny_text_model):
    data = TextRows(["good movie", "[CLS] the film was bad [SEP]", "a good [MASK] plot", "😀 bad", "the [ SEP ] film"])
    notes = [n for n in tiny_text_model.input_notes(data) if "special token" in n]
    assert notes == ["2 of 5 texts write out special tokens of the tokenizer ('[CLS]', '[MASK]', '[SEP]') (rows 1, 2): "
                     "the model reads each as that token, not as its characters, and the explanations rank it as a "
                     "word of the text"], notes


def test_no_note_where_no_text_writes_one(tiny_text_model):
    # an emoji the vocabulary lacks is [UNK], a special token, but not written out
    assert not [n for n in tiny_text_model.input_notes(TextRows(["good movie", "😀 bad"])) if "special token" in n]


def test_gpt2s_end_of_text_is_noted_though_it_is_its_unknown_token_too(tmp_path):
    """GPT-2's tokenizer names <|endoftext|> its unknown token as well as its end and pad token."""
    from auditor.models.decoder import load_sequence_classifier

    from .tiny_decoder import build_byte_level_classifier

    model = load_sequence_classifier(build_byte_level_classifier(tmp_path / "model"), max_length=32, threads=1)
    assert model.tokenizer.unk_token_id == model.tokenizer.eos_token_id
    # mid-text, where the head reads past it (at a text's end it is no word at all: test_decoder_pad_tail)
    notes = [n for n in model.input_notes(TextRows(["good movie", "good <|endoftext|> film"])) if "special token" in n]
    assert len(notes) == 1 and "('<|endoftext|>') (row 1)" in notes[0], notes
