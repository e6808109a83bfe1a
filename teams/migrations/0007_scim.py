import uuid

import django.db.models.deletion
from django.db import migrations, models


def _give_scim_ids(apps, schema_editor):
    for name in ("Membership", "Team"):
        model = apps.get_model("teams", name)
        for pk in model._base_manager.filter(scim_id__isnull=True).values_list("pk", flat=True):
            model._base_manager.filter(pk=pk).update(scim_id=uuid.uuid4())


class Migration(migrations.Migration):
    dependencies = [
        ("teams", "0006_membership_active"),
    ]

    operations = [
        # Existing rows each need their own UUID: add the column nullable, fill it, then make
        # it unique and required.
        migrations.AddField(
            model_name="membership",
            name="scim_id",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.AddField(
            model_name="team",
            name="scim_id",
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(_give_scim_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="membership",
            name="scim_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AlterField(
            model_name="team",
            name="scim_id",
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
        migrations.AddField(
            model_name="membership",
            name="external_id",
            field=models.CharField(blank=True, db_index=True, max_length=255),
        ),
        migrations.AddField(
            model_name="membership",
            name="scim_user_name",
            field=models.CharField(blank=True, db_index=True, max_length=255),
        ),
        migrations.AddField(
            model_name="membership",
            name="scim_attributes",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="team",
            name="external_id",
            field=models.CharField(blank=True, max_length=255),
        ),
        migrations.CreateModel(
            name="WorkspaceScim",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("group_teams", models.JSONField(blank=True, default=dict)),
                ("updated_at", models.DateTimeField(auto_now=True)),
                (
                    "default_role",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        to="teams.role",
                    ),
                ),
                (
                    "workspace",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="scim",
                        to="teams.workspace",
                    ),
                ),
            ],
        ),
    ]
