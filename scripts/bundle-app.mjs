// placeholder replaced when the chat app lands
