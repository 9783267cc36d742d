"""The embedded MQTT broker (amqtt) with Outpost's own authentication and topic ACL."""
