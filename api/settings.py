"""The API's settings dependency: the project's one ``Settings`` object, cached.

The class lives in ``training.settings`` (the bottom layer, so the batch commands share it);
routes get it through ``SettingsDep`` and tests override ``get_settings``.
"""
from training.settings import Settings, get_settings

__all__ = ["Settings", "get_settings"]
