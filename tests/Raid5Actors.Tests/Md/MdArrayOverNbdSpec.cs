using System.Net;
using Raid5Actors.Geometry;
using Raid5Actors.Md;
using Raid5Actors.Nbd;
using Raid5Actors.Tests.Nbd;

namespace Raid5Actors.Tests.Md;

/// <summary>An md array read from images is an ordinary block device to the NBD server: exported read-only, every byte served.</summary>
public class MdArrayOverNbdSpec
{
    [Fact]
    public async Task Serves_a_degraded_md_array_read_only_over_nbd()
    {
        using var images = new MdImageSet(MdArraySpec.Builder(4, Raid5Layout.LeftSymmetric, 16 * 1024), seed: 30);
        using var array = MdArray.Open(images.Without(1));
        await using var server = NbdServer.Start(array, new NbdServerOptions { BindAddress = IPAddress.Loopback, Port = 0 });
        await using var client = await NbdTestClient.OpenAsync(server.Port);

        Assert.Equal((ulong)images.Content.Length, client.ExportBytes);
        Assert.NotEqual(0, client.TransmissionFlags & NbdTestClient.kFlagReadOnly);
        var read = await client.ReadAsync(1, 0, (uint)images.Content.Length);
        Assert.Equal(0u, read.Error);
        Assert.Equal(images.Content, read.Data);
        var write = await client.WriteAsync(2, 0, new byte[512]);
        Assert.NotEqual(0u, write.Error);
    }
}
