"""The OpenStack-compatible REST API (Starlette); see backend/api/app.py."""
from backend.api.app import create_app

__all__ = ["create_app"]
