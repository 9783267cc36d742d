"""Home Assistant MQTT discovery: the box's doors, sensors, cameras and lockdown as Home Assistant entities."""
