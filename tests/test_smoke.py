def test_ping_knows_its_channel(api_client, channel):
    response = api_client.get("/api/v1/ping/")
    assert response.status_code == 200
    assert response.json() == {"channel": channel.code, "kind": channel.kind}
