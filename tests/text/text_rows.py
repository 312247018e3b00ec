"""A stand-in evaluation set for the text tests that read texts alone."""


class TextRows:
    """An evaluation set of texts alone, as a model's ``input_notes`` reads one."""

    def __init__(self, texts):
        self._texts = list(texts)

    def texts(self):
        return self._texts

    def __len__(self):
        return len(self._texts)
