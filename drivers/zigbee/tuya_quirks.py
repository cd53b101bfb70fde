"""fbgw's own quirks for Tuya TS0601 devices that zha-quirks does not (yet) cover, built with its Tuya v2 builder.

Each quirk turns the device's 0xEF00 data points into standard clusters (IAS Zone, Power Configuration), so the
mapping table treats it like any other detector. Data points are those the community has published for the
device; importing this module registers the quirks, exactly as a zha-quirks module does (see :mod:`.quirks`).

- Water leak ``_TZE200_qq9mpfhw`` (Neo NAS-WS02B0): Zigbee2MQTT ``TS0601_water_sensor``, data point 101 is
  "wet" (bool); data point 102 is the battery state (0 full, 1 high, 2 medium, 3 low), as the Hubitat driver
  "Tuya NEO Coolcam Zigbee Water Leak Sensor" reads it.
- Water leak ``_TZE200_jthf7vb6`` (TuYa WLS-100z): Zigbee2MQTT ``WLS-100z``, data point 1 is the leak state
  (enum: 0 leak, 1 dry), data point 4 the battery percentage.
- SOS button ``_TZE284_2baujqot``: Zigbee2MQTT ``TS0601_sos``, data point 23 is the emergency press (enum;
  latched, the device sends no release), data point 3 the battery percentage.
- SOS button ``_TZE200_nojsjtj2`` ("Tuya Smart ZigBee SOS Button", elderly emergency help): Zigbee2MQTT's
  definition of it reports data point 26 (enum 0, "sos") and data point 29 (enum 0, "emergency"), both an
  ``action``, as does the SmartThings Edge driver ``zg101z_sos_remote``; each is one press (latched, no release).
  None of them lists a battery data point, so none is mapped.
"""

from __future__ import annotations

from typing import Any, ClassVar

from zhaquirks.tuya import TuyaLocalCluster
from zhaquirks.tuya.builder import TuyaQuirkBuilder
from zigpy.zcl.clusters.general import PowerConfiguration
from zigpy.zcl.clusters.security import IasZone

ALARM = IasZone.ZoneStatus.Alarm_1

#: ``_TZE200_qq9mpfhw`` battery state -> Power Configuration's half-percent (100, 75, 50, 25 %).
NEO_BATTERY_STATE = {0: 200, 1: 150, 2: 100, 3: 50}


class TuyaBattery(PowerConfiguration, TuyaLocalCluster):  # type: ignore[misc]
    """Battery percentage from a data point (the published signatures do not say which cells they take)."""


class TuyaIasWater(IasZone, TuyaLocalCluster):  # type: ignore[misc]
    """IAS Zone of a Tuya data-point water sensor (zone type 0x002A)."""

    _CONSTANT_ATTRIBUTES: ClassVar[dict[int, Any]] = {IasZone.AttributeDefs.zone_type.id: IasZone.ZoneType.Water_Sensor}


class TuyaIasEmergency(IasZone, TuyaLocalCluster):  # type: ignore[misc]
    """IAS Zone of a Tuya data-point SOS button (zone type 0x002C, personal emergency device)."""

    _CONSTANT_ATTRIBUTES: ClassVar[dict[int, Any]] = {
        IasZone.AttributeDefs.zone_type.id: IasZone.ZoneType.Personal_Emergency_Device
    }


def _wet_when_true(value: Any) -> int:
    return ALARM if value else 0


def _wet_when_zero(value: Any) -> int:
    return ALARM if int(value) == 0 else 0


def _pressed(_value: Any) -> int:
    return ALARM  # every report of the data point is a press; there is no release


def _neo_battery(value: Any) -> int | None:
    return NEO_BATTERY_STATE.get(int(value))


(
    TuyaQuirkBuilder("_TZE200_qq9mpfhw", "TS0601")
    .tuya_ias(dp_id=101, ias_cfg=TuyaIasWater, converter=_wet_when_true)
    .tuya_dp(
        dp_id=102,
        ep_attribute=TuyaBattery.ep_attribute,
        attribute_name="battery_percentage_remaining",
        converter=_neo_battery,
    )
    .adds(TuyaBattery)
    .skip_configuration()
    .add_to_registry()
)

(
    TuyaQuirkBuilder("_TZE200_jthf7vb6", "TS0601")
    .tuya_ias(dp_id=1, ias_cfg=TuyaIasWater, converter=_wet_when_zero)
    .tuya_battery(dp_id=4, power_cfg=TuyaBattery)
    .skip_configuration()
    .add_to_registry()
)

(
    TuyaQuirkBuilder("_TZE284_2baujqot", "TS0601")
    .tuya_ias(dp_id=23, ias_cfg=TuyaIasEmergency, converter=_pressed)
    .tuya_battery(dp_id=3, power_cfg=TuyaBattery)
    .skip_configuration()
    .add_to_registry()
)

(
    TuyaQuirkBuilder("_TZE200_nojsjtj2", "TS0601")
    .tuya_ias(dp_id=26, ias_cfg=TuyaIasEmergency, converter=_pressed)
    # the second data point drives the same zone status: either one is the alarm
    .tuya_dp(
        dp_id=29,
        ep_attribute=TuyaIasEmergency.ep_attribute,
        attribute_name=IasZone.AttributeDefs.zone_status.name,
        converter=_pressed,
        endpoint_id=1,
    )
    .skip_configuration()
    .add_to_registry()
)
