"""Devices on the site broker: the core MQTT client and live device/door state."""
