"""The Functions entry point: creates the app and registers the blueprints, nothing else.

The host imports this module to index the functions, so importing it must connect to nothing.
"""

import azure.functions as func

from scim_handlers.access_api import bp as access_bp
from scim_handlers.account_api import bp as account_bp
from scim_handlers.bulk import bp as bulk_bp
from scim_handlers.console import bp as console_bp
from scim_handlers.directory_api import bp as directory_bp
from scim_handlers.discovery import bp as discovery_bp
from scim_handlers.groups import bp as groups_bp
from scim_handlers.health import bp as health_bp
from scim_handlers.oauth import bp as oauth_bp
from scim_handlers.oauth_clients_api import bp as oauth_clients_bp
from scim_handlers.reconcile_timer import bp as reconcile_bp
from scim_handlers.retry_triggers import bp as retry_bp
from scim_handlers.search import bp as search_bp
from scim_handlers.users import bp as users_bp

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(discovery_bp)
app.register_functions(users_bp)
app.register_functions(groups_bp)
app.register_functions(search_bp)
app.register_functions(bulk_bp)
app.register_functions(retry_bp)
app.register_functions(reconcile_bp)
app.register_functions(directory_bp)
app.register_functions(account_bp)
app.register_functions(access_bp)
app.register_functions(health_bp)
app.register_functions(console_bp)
app.register_functions(oauth_bp)
app.register_functions(oauth_clients_bp)
