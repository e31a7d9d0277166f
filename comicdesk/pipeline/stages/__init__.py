"""One module per analysis stage, each exposing ``SPEC`` (a :class:`~comicdesk.pipeline.stage.StageSpec`)."""
