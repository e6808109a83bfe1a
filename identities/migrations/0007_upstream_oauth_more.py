from django.db import migrations, models


def _registration_from_flag(apps, schema_editor):
    # Before client ID metadata documents, a client not registered dynamically was pre-registered.
    model = apps.get_model("identities", "UpstreamOAuthClient")
    model.objects.filter(registered=False).update(registration="pre_registered")


class Migration(migrations.Migration):
    dependencies = [
        ("identities", "0006_chosen_gateway"),
    ]

    operations = [
        migrations.AddField(
            model_name="upstreamconnection",
            name="wanted_scope",
            field=models.CharField(
                blank=True,
                help_text="Scopes the upstream asked for beyond those granted (step-up): the "
                "connection needs more consent, and reconnecting asks for them too.",
                max_length=1000,
            ),
        ),
        migrations.AddField(
            model_name="upstreamoauthclient",
            name="registration",
            field=models.CharField(
                choices=[
                    ("pre_registered", "Pre-registered by an administrator"),
                    ("metadata_document", "Client ID metadata document"),
                    ("dynamic", "Registered dynamically (RFC 7591)"),
                ],
                default="dynamic",
                max_length=20,
            ),
        ),
        migrations.AddField(
            model_name="upstreamoauthclient",
            name="revocation_endpoint",
            field=models.CharField(
                blank=True, help_text="RFC 7009; empty when the server names none.", max_length=500
            ),
        ),
        migrations.RunPython(_registration_from_flag, migrations.RunPython.noop),
    ]
