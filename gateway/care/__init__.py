"""Daily care routines: medication reminders, the daily check-in, caregiver visits and the activity summary."""
