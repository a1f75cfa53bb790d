from django.db import migrations, models
import django.db.models.deletion
import django.utils.timezone
import uuid



# The webhook tables of 0001 never held a row (nothing delivered before this migration), so they are
# recreated in their new shape rather than altered.


class Migration(migrations.Migration):

    dependencies = [
        ('whatsapp', '0003_idempotency_keys'),
    ]

    operations = [
        migrations.AddField(
            model_name='app',
            name='webhook_secret_previous',
            field=models.CharField(blank=True, editable=False, help_text='The secret before the last rotation; deliveries are signed with both until the overlap ends.', max_length=200),
        ),
        migrations.AddField(
            model_name='app',
            name='webhook_secret_previous_until',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.DeleteModel(
            name='WebhookAttempt',
        ),
        migrations.DeleteModel(
            name='WebhookDelivery',
        ),

        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('sequence', models.PositiveBigIntegerField()),
                ('event_type', models.CharField(max_length=40)),
                ('url', models.CharField(blank=True, help_text='The URL of the last attempt (or the one planned).', max_length=2000)),
                ('request_id', models.UUIDField(default=uuid.uuid4, editable=False)),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('succeeded', 'Succeeded'), ('failed', 'Failed'), ('dead', 'Dead')], default='pending', max_length=10)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('retry_until', models.DateTimeField(blank=True, help_text='Set at the first attempt: retries stop (dead letter) after this.', null=True)),
                ('last_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('last_error_code', models.CharField(blank=True, help_text='An ErrorCode name.', max_length=64)),
                ('last_error', models.TextField(blank=True)),
                ('replays', models.PositiveIntegerField(default=0)),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, editable=False)),
                ('delivered_at', models.DateTimeField(blank=True, null=True)),
                ('app', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_deliveries', to='whatsapp.app')),
                ('device', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_deliveries', to='whatsapp.device')),
                ('event', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='whatsapp.deviceevent')),
            ],
            options={
                'verbose_name_plural': 'webhook deliveries',
                'ordering': ('-created_at',),
            },
        ),
        migrations.CreateModel(
            name='WebhookAttempt',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveIntegerField()),
                ('url', models.CharField(blank=True, max_length=2000)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('duration_ms', models.PositiveIntegerField(blank=True, null=True)),
                ('status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('error_code', models.CharField(blank=True, help_text='An ErrorCode name.', max_length=64)),
                ('error', models.TextField(blank=True)),
                ('response_body', models.TextField(blank=True, help_text="First 2 KiB of the receiver's answer.")),
                ('delivery', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempt_log', to='whatsapp.webhookdelivery')),
            ],
            options={
                'ordering': ('delivery', 'number'),
            },
        ),
        migrations.CreateModel(
            name='WebhookStream',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('endpoint', models.CharField(blank=True, max_length=300)),
                ('not_before', models.DateTimeField(blank=True, null=True)),
                ('leased_until', models.DateTimeField(blank=True, null=True)),
                ('lease_token', models.UUIDField(blank=True, null=True)),
                ('app', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_streams', to='whatsapp.app')),
                ('device', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='webhook_streams', to='whatsapp.device')),
            ],
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(fields=['app', 'state'], name='whatsapp_we_app_id_6bd300_idx'),
        ),
        migrations.AddIndex(
            model_name='webhookdelivery',
            index=models.Index(condition=models.Q(('state__in', ('pending', 'failed'))), fields=['app', 'device', 'sequence'], name='delivery_open_stream'),
        ),
        migrations.AddConstraint(
            model_name='webhookdelivery',
            constraint=models.UniqueConstraint(fields=('app', 'event'), name='delivery_unique_per_app_event'),
        ),
        migrations.AddConstraint(
            model_name='webhookattempt',
            constraint=models.UniqueConstraint(fields=('delivery', 'number'), name='attempt_number_unique'),
        ),
        migrations.AddIndex(
            model_name='webhookstream',
            index=models.Index(fields=['endpoint', 'leased_until'], name='whatsapp_we_endpoin_4768a7_idx'),
        ),
        migrations.AddConstraint(
            model_name='webhookstream',
            constraint=models.UniqueConstraint(fields=('app', 'device'), name='webhook_stream_unique'),
        ),
    ]
