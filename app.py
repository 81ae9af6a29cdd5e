"""Serve Face Insight with Flask's development server on 127.0.0.1 (gunicorn for real use: see Procfile)."""

import os

from faceinsight.web import create_app

app = create_app()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8000")), threaded=True)
