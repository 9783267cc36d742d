"""The site's MQTT broker: embedded amqtt with Outpost's auth and topic ACL, or an external Mosquitto."""
