# The admin change log now belongs to teams (teams 0005): the audit app forgets it, the table stays.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("audit", "0007_logentry_workspace_index"),
        ("teams", "0005_configchange"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="ConfigChange")],
            database_operations=[],
        ),
    ]
