"""Prefect flows: each lifecycle phase is one flow; `lifecycle` composes them into the main job."""
