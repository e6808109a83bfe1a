# The flag became UpstreamOAuthClient.registration in 0006; dropped in a migration of its own,
# since PostgreSQL refuses to alter a table with row updates pending in the same transaction.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("identities", "0007_upstream_oauth_more"),
    ]

    operations = [
        migrations.RemoveField(
            model_name="upstreamoauthclient",
            name="registered",
        ),
    ]
