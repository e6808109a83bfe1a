# Tokens gain a kind: every existing token becomes a `gateway` token (MCP URLs only), so it
# no longer opens the management API; api tokens are issued anew, with scopes.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('identities', '0008_remove_upstreamoauthclient_registered'),
    ]

    operations = [
        migrations.AddField(
            model_name='apitoken',
            name='kind',
            field=models.CharField(choices=[('gateway', 'Gateway (MCP clients)'), ('api', 'Management API'), ('connector', 'Connector'), ('scim', 'SCIM provisioning')], default='gateway', max_length=12),
        ),
        migrations.AddField(
            model_name='apitoken',
            name='scopes',
            field=models.JSONField(blank=True, default=list, help_text='Of an api token: `read` and/or capability keys (teams/capabilities.py).'),
        ),
    ]
