"""labelbot: labels the images posted in Slack channels with Amazon Rekognition."""
