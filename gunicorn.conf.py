# Read by gunicorn from the working directory: its access and error logs pass the
# same secret-redacting filter as the portal's own logs (portal/logfilter.py).
logger_class = "portal.gunicorn_log.RedactingLogger"
