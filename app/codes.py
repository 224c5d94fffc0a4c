"""The stored codes of SPEC §2 and §6 and their translated labels (``Choices``), with the
constants the models' rules read: what a register's enumerations are, apart from the register.
The UI shows the labels; the database, the API and the rosters keep the codes.
"""

import datetime as dt

from flask_babel import lazy_gettext as _l

from app.fields import Choices

# --- Organisation (SPEC §2) ---

GENDER = Choices(("male", _l("Male")), ("female", _l("Female")))
MEMBER_STATUS = Choices(
    ("applied", _l("Applied")),
    ("active", _l("Active")),
    ("rejected", _l("Rejected")),
    ("withdrawn", _l("Withdrawn")),
    ("advised_out", _l("Advised out")),
    ("deceased", _l("Deceased")),
)
LEAVING_STATUSES = ("withdrawn", "advised_out", "deceased")
DECISION_STATUSES = ("active", "rejected")
MEMBER_CATEGORY = Choices(
    ("elder", _l("Five elders")),
    ("activist", _l("Activist among residents of childbearing age")),
    ("backbone", _l("Production backbone")),
    ("entrepreneur", _l("Entrepreneur")),
    ("notable", _l("Community notable")),
    ("cadre", _l("Village cadre")),
    ("other", _l("Other")),
)
VILLAGE_KIND = Choices(("village", _l("Village")), ("community", _l("Community")))
SIZE_CLASS = Choices(
    ("standard", _l("Standard (5-3-3)")),
    ("small", _l("Small (3-2-1)")),
)
CONTACT_HOUSEHOLD_TYPE = Choices(
    ("family_planning", _l("Family-planning family")),
    ("difficult", _l("Household in difficulty")),
    ("migrant", _l("Migrant household")),
    ("special", _l("Special family-planning family")),
    ("other", _l("Other")),
)
SEAT_POSITION = Choices(
    ("president", _l("President")),
    ("executive_vice", _l("Executive vice-president")),
    ("vice_president", _l("Vice-president")),
    ("secretary", _l("Secretary-general")),
    ("director", _l("Council member")),
)
SEAT_COMPOSITION = Choices(
    ("elder", _l("Five elders")),
    ("notable", _l("Notable, entrepreneur or activist")),
    ("cadre", _l("Village cadre")),
)


# --- Work records (SPEC §2, seeds 000 Art. 12-13) ---

MEETING_TYPE = Choices(
    ("congress", _l("Members' representative congress")),
    ("council", _l("Council meeting")),
    ("work", _l("Monthly work meeting")),
    ("review", _l("Quarterly review meeting")),
    ("group_leaders", _l("Group leaders' meeting")),
    ("group", _l("Member group meeting")),
    ("villagers", _l("Villagers' (representative) assembly")),
)
RESOLUTION_STATUS = Choices(("open", _l("Open")), ("done", _l("Done")), ("dropped", _l("Dropped")))
ACTIVITY_KIND = Choices(
    ("publicity", _l("Publicity")),
    ("service", _l("Service")),
    ("assistance", _l("Assistance")),
    ("volunteer", _l("Volunteering")),
    ("culture", _l("Culture and sports")),
    ("training", _l("Training")),
    ("reading", _l("Reading")),
    ("parenting", _l("Parenting guidance (优生优育)")),
    ("youth_health", _l("Youth health (青春健康)")),
    ("family_health", _l("Family health")),
    ("marriage_culture", _l("New marriage and childbearing culture")),
)
FAMILY_TYPE = Choices(
    ("only_child", _l("One-child family")),
    ("two_daughters", _l("Two-daughter family")),
    ("special_lost", _l("Special family: lost only child")),
    ("special_disabled", _l("Special family: disabled only child")),
    ("special_complication", _l("Special family: surgery complication")),
    ("other", _l("Other")),
)
SPECIAL_FAMILY_TYPES = ("special_lost", "special_disabled", "special_complication")
DIFFICULTY = Choices(
    ("illness", _l("Illness")),
    ("disability", _l("Disability")),
    ("poverty", _l("Poverty")),
    ("schooling", _l("Schooling")),
    ("elderly_care", _l("Elderly care")),
    ("other", _l("Other")),
)
HOUSEHOLD_STATUS = Choices(
    ("needs_help", _l("Needs help")),
    ("recovered", _l("Recovered")),
    ("moved", _l("Moved away")),
    ("closed", _l("Closed")),
)
ASSISTANCE_KIND = Choices(
    ("three_combinations", _l("Three combinations (三结合)")),
    ("schooling", _l("Schooling aid")),
    ("pension", _l("Pension insurance")),
    ("medical", _l("Medical aid")),
    ("condolence", _l("Condolence visit")),
    ("warm_heart", _l("Warm-heart action")),
    ("contact_visit", _l("Contact visit")),
    ("festival", _l("Festival visit")),
    ("birthday", _l("Birthday company")),
    ("hospital_care", _l("Hospital care")),
    ("counselling", _l("Psychological comfort")),
    ("insurance_claim", _l("Insurance claim")),
    ("other", _l("Other")),
)
BENEFIT_KIND = Choices(
    ("glory_certificate", _l("Only-child parents' glory certificate")),
    ("reward_assistance", _l("Reward assistance")),
    ("special_assistance", _l("Special assistance")),
    ("two_daughters", _l("Two-daughter preferential certificate")),
    ("pension_subsidy", _l("Pension insurance subsidy")),
    ("other", _l("Other")),
)
BENEFIT_STATUS = Choices(
    ("active", _l("Receiving")), ("suspended", _l("Suspended")), ("ended", _l("Ended"))
)
AGREEMENT_STATUS = Choices(
    ("in_force", _l("In force")), ("breached", _l("Breached")), ("ended", _l("Ended"))
)
DOCUMENT_KIND = Choices(
    ("charter", _l("Association charter")),
    ("self_governance", _l("Villagers' self-governance charter")),
    ("village_rules", _l("Village rules and conventions")),
    ("network_diagram", _l("Organisation network diagram")),
    ("approval", _l("Approval from above")),
    ("duties", _l("Job duties")),
    ("work_plan", _l("Work plan")),
    ("work_summary", _l("Work summary")),
    ("other", _l("Other")),
)
COMPLAINT_CHANNEL = Choices(
    ("phone", _l("Telephone")),
    ("visit", _l("In person")),
    ("box", _l("Complaint point")),
    ("other", _l("Other")),
)
COMPLAINT_KIND = Choices(
    ("consultation", _l("Consultation")),
    ("rights", _l("Rights infringement")),
    ("mediation", _l("Family dispute mediation")),
    ("suggestion", _l("Suggestion")),
)
COMPLAINT_STATUS = Choices(
    ("received", _l("Received")),
    ("handling", _l("Being handled")),
    ("resolved", _l("Resolved")),
    ("referred", _l("Referred")),
)
COMPLAINT_OPEN = ("received", "handling")


def complaint_deadline(today: dt.date | None = None) -> dt.date:
    """A complaint still open and received before this day is overdue."""
    from flask import current_app

    days = current_app.config.get("COMPLAINT_DEADLINE_DAYS", 30)
    return (today or dt.date.today()) - dt.timedelta(days=days)


AWARD_KIND = Choices(
    ("good_mother_in_law", _l("Good mother-in-law")),
    ("good_daughter_in_law", _l("Good daughter-in-law")),
    ("model_household", _l("Model family-planning household")),
    ("five_good_member", _l("Five-good member")),
    ("advanced_group", _l("Advanced member group")),
    ("excellent_cadre", _l("Excellent association cadre")),
)
AWARD_LEVEL = Choices(
    ("village", _l("Village")), ("township", _l("Township")), ("county", _l("County"))
)
VENUE_KIND = Choices(
    ("office", _l("Association office")),
    ("activity_room", _l("Member activity room")),
    ("members_home", _l("Members' home")),
    ("group_home", _l("Member group home")),
    ("population_school", _l("Population school")),
)
NOTICE_KIND = Choices(
    ("government", _l("Government affairs")),
    ("benefits", _l("Benefit publicity")),
    ("activity", _l("Activity notice")),
    ("other", _l("Other")),
)
FUND_DIRECTION = Choices(("in", _l("Income")), ("out", _l("Expense")))
FUND_CATEGORY = Choices(
    ("allocation", _l("Allocation from above")),
    ("village", _l("Village investment")),
    ("donation", _l("Donations")),
    ("subsidy", _l("Subsidies paid out")),
    ("activity", _l("Activity expenses")),
    ("other", _l("Other")),
)


# --- Township tasks and surveys (issue 9) ---

TASK_STATUS = Choices(("open", _l("Open")), ("done", _l("Done")))
SURVEY_KIND = Choices(
    ("cadre_knowledge", _l("Cadre knowledge rate")),
    ("resident_knowledge", _l("Resident knowledge rate")),
    ("satisfaction", _l("Satisfaction")),
)


# --- Volunteer service (issue 16) ---

VOLUNTEER_KIND = Choices(
    ("publicity", _l("Publicity")),
    ("visit", _l("Home visits and help")),
    ("youth_health", _l("Youth health")),
    ("parenting", _l("Healthy births and parenting")),
    ("other", _l("Other")),
)
