"""Third-party strings that our catalogue translates. Read by `pybabel extract`, never imported.

Flask-AppBuilder's own zh catalogue lacks these strings, marks them fuzzy, or words them poorly
(variant characters, wrong meaning). Listing them here puts them in translations/messages.pot,
so `make babel-extract` keeps them in our catalogues instead of marking them obsolete. Flask-Babel
loads our catalogue after FAB's, so our translation wins.

WTForms translates its validators in its own "wtforms" domain; the few it leaves in English reach
FAB's form templates, which pass field errors through our gettext again.
"""


def N_(message):
    """gettext's no-op marker: `pybabel extract` looks for it; nothing is translated here."""
    return message


# Missing, untranslated or fuzzy in Flask-AppBuilder's zh catalogue.
FAB_MISSING = (
    N_("Database Error"),
    N_(
        "Must have at least two capital letters, one special character, two digits, three "
        "lower case letters and a minimal length of 10."
    ),
    N_("Contains (insensitive)"),
    N_("In"),
    N_("Not In"),
    N_("Either select a role or a group"),
    N_("List Groups"),
    N_("Edit User Information"),
    N_("User information changed"),
    N_("Groups"),
    N_("The user's password for authentication"),
    N_(
        "The user group on the application, this will associate with a list of roles "
        "associated with the group"
    ),
    N_("User(s) exists in the role, cannot delete"),
    N_("Show Group"),
    N_("Add Group"),
    N_("Edit Group"),
    N_("User(s) exists in the group, cannot delete"),
    N_("Add"),
    N_("Edit"),
    N_("Show"),
    N_("Delete"),
    N_("Are you sure you want to delete this item?"),
    N_("Sign In with "),
    N_("Start with"),
    N_("It's not a good policy to remove a user, just make it inactive"),
)

# Translated by Flask-AppBuilder's zh catalogue, but poorly: ours overrides.
FAB_OVERRIDES = (
    N_("Back"),
    N_("Integrity error, probably unique constraint"),
    N_("This field is required."),
    N_("Not a valid date value"),
    N_("Starts with"),
    N_("Not Starts with"),
    N_("Ends with"),
    N_("Not Ends with"),
    N_("Relation"),
    N_("No Relation"),
    N_("Relation as Many"),
    N_("Logout"),
    N_("Profile"),
    N_("Invalid login. Please try again."),
    N_("Is Active?"),
    N_("Your user information"),
    N_("Reset my password"),
    N_("Reset Password"),
    N_("Reset Password Form"),
    N_("Page size"),
    N_("Record Count"),
    N_("Detail"),
    N_("Account activation"),
    N_("Add Filter"),
    N_("Show record"),
    N_("Show User"),
    N_("Show Role"),
    N_("Show Registration"),
    N_("Show Base Permission"),
    N_("Show View Menu"),
    N_("Show Permission on Views/Menus"),
    N_("List Base Permissions"),
    N_("List View Menus"),
    N_("User Registrations"),
    N_("Full Name"),
    N_("Last login"),
    N_("Failed login count"),
    N_("Security"),
    N_("Please use a good password policy, this application does not check this for you"),
    N_("Write the user first name or names"),
    N_("Write the user last name"),
    N_("Username valid for authentication on DB or LDAP, unused for OID auth"),
    N_("The user's email, this will also be used for OID auth"),
    N_("The user role on the application, this will associate with a list of permissions"),
    N_("Please rewrite the user's password to confirm"),
    N_("Registration not found"),
    N_("Fill out the registration form"),
)

# Left in English by WTForms' zh catalogue (shown through FAB's render_field).
WTFORMS_MISSING = (
    N_("This field cannot be edited."),
    N_("This field is disabled and cannot have a value."),
    N_("Not a valid week value."),
)
