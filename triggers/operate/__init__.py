"""Operate: the API, replay, previews, secret rotation and the operational endpoints."""
