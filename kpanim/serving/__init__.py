"""Real time and the browser: the WebSocket server of kpanim.Stream, its protocol and a Python client, and the local viewer's HTTP server."""
