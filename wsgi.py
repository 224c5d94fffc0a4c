"""WSGI entry point; also lets `flask …` find the app from the repository root."""

from app import create_app

app = create_app()
