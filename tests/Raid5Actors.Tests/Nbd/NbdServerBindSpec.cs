using System.Net.Sockets;
using Raid5Actors.Nbd;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Nbd;

/// <summary>One server per port: a second one must fail to bind, not share the port and take half the clients.</summary>
public class NbdServerBindSpec(ITestOutputHelper output)
{
    [Fact]
    public async Task A_second_server_on_a_port_in_use_fails_to_bind_and_every_client_reaches_the_first()
    {
        await using var first = await ServedArray.StartAsync(output);
        await using var other = await ServedArray.StartAsync(output, memberDataBytes: 2 * ServedArray.kDefaultMemberDataBytes);

        var error = Assert.Throws<SocketException>(() => NbdServer.Start(other.Array, new NbdServerOptions { Port = first.Port }));

        output.WriteLine(error.Message);
        Assert.Equal(SocketError.AddressAlreadyInUse, error.SocketErrorCode);
        for (var i = 0; i < 8; i++)
        {
            await using var client = await NbdTestClient.OpenAsync(first.Port);
            Assert.Equal((ulong)first.CapacityBytes, client.ExportBytes);
        }
    }
}
