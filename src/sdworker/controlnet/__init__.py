"""ControlNet (Mikubill's sd-webui-controlnet) through the worker: its units checked before A1111
sees them, its lists and detect route as operations, its detected maps kept apart from the
generated images. The extension answers HTTP 200 to almost every mistake and generates without
ControlNet, so whatever it would skip is refused here first."""
