"""The front door: `python -m app`, the served pyfunc model, the web page, batch predict."""
