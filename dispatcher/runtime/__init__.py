"""Process runtime: settings, the application context, metrics and logging."""
