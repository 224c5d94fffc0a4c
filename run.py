"""`python run.py` (or `make run`): serve the app on HOST:PORT and say how to sign in."""

import gc

from app import create_app, crypto, untrusted
from app.demo import DEMO_ACCOUNTS

app = create_app()
# As wsgi.py: start-up objects are left out of every later garbage collection.
gc.collect()
gc.freeze()

if __name__ == "__main__":
    crypto.refuse_wrong_key(app)
    host, port = app.config["HOST"], app.config["PORT"]
    print(f"\n计生协工作管理系统: http://{host}:{port}/")
    print(f"Demo accounts, all with the password {app.config['DEMO_PASSWORD']} (DEMO_PASSWORD):")
    for username, role, scope in DEMO_ACCOUNTS:
        print(f"  {username:<20} {role:<12} {scope}")
    print()
    # Threaded: roster files are read in children of a fork server (app.untrusted), started
    # now rather than at the first upload.
    untrusted.start_forkserver(["app.roster_files"])
    app.run(host=host, port=port, threaded=True, debug=False)
