def handler(req, ctx):
    hog = bytearray(1024 * 1024 * 1024)
    return {"status": 200, "body": str(len(hog))}
