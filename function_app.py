"""The Functions entry point: creates the app and registers the blueprints, nothing else.

The host imports this module to index the functions, so importing it must connect to nothing.
"""

import azure.functions as func

from scim_handlers.discovery import bp as discovery_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(discovery_bp)
