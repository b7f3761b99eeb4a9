using System.Text;
using Raid5Actors.Nbd;
using Xunit.Abstractions;
using static System.Buffers.Binary.BinaryPrimitives;
using static Raid5Actors.Tests.Nbd.NbdTestClient;

namespace Raid5Actors.Tests.Nbd;

/// <summary>
/// The fixed newstyle handshake as proto.md writes it, driven step by step by the spec's own
/// client: options are answered one by one, wrong ones are refused without ending the haggling,
/// and a client that breaks the protocol is disconnected while the server goes on serving others.
/// </summary>
public sealed class NbdHandshakeSpec(ITestOutputHelper output)
{
    private const ushort kExpectedTransmissionFlags =
        kFlagHasFlags | kFlagSendFlush | kFlagSendFua | kFlagSendTrim | kFlagSendWriteZeroes | kFlagCanMultiConn;

    [Fact]
    public async Task The_server_offers_fixed_newstyle_and_GO_describes_the_export_with_its_block_sizes()
    {
        await using var served = await ServedArray.StartAsync(output);
        var (client, handshakeFlags) = await NbdTestClient.ConnectAsync(served.Port);
        await using var _ = client;
        Assert.Equal(0b11, handshakeFlags); // FIXED_NEWSTYLE | NO_ZEROES
        await client.SendClientFlagsAsync(kClientFixedNewstyle);

        var info = await client.GoAsync(kOptInfo, ServedArray.kExportName, kInfoName, kInfoDescription, kInfoBlockSize);
        Assert.Equal(kRepAck, info.Final.Type);
        Assert.Equal((ulong)served.CapacityBytes, ReadUInt64BigEndian(info.Infos[kInfoExport]));
        Assert.Equal(kExpectedTransmissionFlags, ReadUInt16BigEndian(info.Infos[kInfoExport].AsSpan(8)));
        Assert.Equal(ServedArray.kExportName, Encoding.UTF8.GetString(info.Infos[kInfoName]));
        Assert.False(string.IsNullOrEmpty(Encoding.UTF8.GetString(info.Infos[kInfoDescription])));
        var blockSize = info.Infos[kInfoBlockSize];
        Assert.Equal((512u, 4096u, 32u << 20),
            (ReadUInt32BigEndian(blockSize), ReadUInt32BigEndian(blockSize.AsSpan(4)), ReadUInt32BigEndian(blockSize.AsSpan(8))));

        // INFO leaves the client in the handshake; GO on the default export "" then starts transmission.
        var go = await client.GoAsync(kOptGo, "");
        Assert.Equal(kRepAck, go.Final.Type);
        Assert.Equal((ulong)served.CapacityBytes, client.ExportBytes);
        var read = await client.ReadAsync(handle: 1, offset: 0, length: 4096);
        Assert.Equal(0u, read.Error);
        Assert.Equal(new byte[4096], read.Data);
    }

    [Fact]
    public async Task An_unknown_option_gets_ERR_UNSUP_and_the_connection_goes_on_to_serve_reads_and_writes()
    {
        await using var served = await ServedArray.StartAsync(output);
        var (client, _) = await NbdTestClient.ConnectAsync(served.Port);
        await using var _ = client;
        await client.SendClientFlagsAsync(kClientFixedNewstyle | kClientNoZeroes);

        foreach (var option in new uint[] { 0xbeef, kOptStartTls, kOptSetMetaContext })
        {
            await client.SendOptionAsync(option, [1, 2, 3, 4, 5]);
            var reply = await client.ReadOptionReplyAsync();
            Assert.Equal((option, kRepErrUnsup), (reply.Option, reply.Type));
        }

        Assert.Equal(kRepAck, (await client.GoAsync(kOptGo, ServedArray.kExportName)).Final.Type);
        var data = TestData.Bytes(TestData.NewRandom(output), 8192);
        Assert.Equal(0u, (await client.WriteAsync(handle: 7, offset: 65536, data)).Error);
        Assert.Equal(data, (await client.ReadAsync(handle: 8, offset: 65536, length: 8192)).Data);
    }

    [Fact]
    public async Task LIST_names_the_export_and_malformed_or_unknown_exports_are_refused_with_replies()
    {
        await using var served = await ServedArray.StartAsync(output);
        var (client, _) = await NbdTestClient.ConnectAsync(served.Port);
        await using var _ = client;
        await client.SendClientFlagsAsync(kClientFixedNewstyle);

        await client.SendOptionAsync(kOptList, []);
        var server = await client.ReadOptionReplyAsync();
        Assert.Equal((kOptList, kRepServer), (server.Option, server.Type));
        var nameBytes = (int)ReadUInt32BigEndian(server.Data);
        Assert.Equal(ServedArray.kExportName, Encoding.UTF8.GetString(server.Data, 4, nameBytes));
        Assert.Equal(kRepAck, (await client.ReadOptionReplyAsync()).Type);

        await client.SendOptionAsync(kOptList, [0]);
        Assert.Equal(kRepErrInvalid, (await client.ReadOptionReplyAsync()).Type);

        Assert.Equal(kRepErrUnknown, (await client.GoAsync(kOptGo, "no-such-export")).Final.Type);

        // GO whose name length points past the option's data.
        var broken = new byte[6];
        WriteUInt32BigEndian(broken, 100);
        await client.SendOptionAsync(kOptGo, broken);
        Assert.Equal(kRepErrInvalid, (await client.ReadOptionReplyAsync()).Type);

        await client.SendOptionAsync(kOptStructuredReply, [9]);
        Assert.Equal(kRepErrInvalid, (await client.ReadOptionReplyAsync()).Type);

        // Still haggling: ABORT is acknowledged and the server closes.
        await client.SendOptionAsync(kOptAbort, []);
        var abort = await client.ReadOptionReplyAsync();
        Assert.Equal((kOptAbort, kRepAck), (abort.Option, abort.Type));
        Assert.True(await client.ClosedByServerAsync(), "the server kept the connection open after ABORT");
        await served.AssertIdleAsync();
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task EXPORT_NAME_enters_transmission_with_the_size_and_flags_and_zero_padding_unless_declined(bool noZeroes)
    {
        await using var served = await ServedArray.StartAsync(output);
        var (client, _) = await NbdTestClient.ConnectAsync(served.Port);
        await using var _ = client;
        await client.SendClientFlagsAsync(kClientFixedNewstyle | (noZeroes ? kClientNoZeroes : 0));

        await client.SendOptionAsync(kOptExportName, Encoding.UTF8.GetBytes(ServedArray.kExportName));
        var reply = await client.ReadExactlyAsync(10 + (noZeroes ? 0 : 124));
        Assert.Equal((ulong)served.CapacityBytes, ReadUInt64BigEndian(reply));
        Assert.Equal(kExpectedTransmissionFlags, ReadUInt16BigEndian(reply.AsSpan(8)));
        Assert.True(reply.AsSpan(10).IndexOfAnyExcept((byte)0) < 0);

        Assert.Equal(0u, (await client.CommandAsync(kCmdFlush, handle: 3)).Error);
        await client.SendRequestAsync(kCmdDisc, handle: 4, offset: 0, length: 0);
        Assert.True(await client.ClosedByServerAsync(), "the server kept the connection open after DISC");
    }

    [Fact]
    public async Task Garbage_in_the_handshake_closes_that_connection_and_the_server_serves_the_next_client()
    {
        await using var served = await ServedArray.StartAsync(output);

        // A client that does not speak fixed newstyle.
        var (plain, _) = await NbdTestClient.ConnectAsync(served.Port);
        await using (plain)
        {
            await plain.SendClientFlagsAsync(0);
            Assert.True(await plain.ClosedByServerAsync(), "a non-fixed-newstyle client was served");
        }

        // Client flags the server never offered.
        var (unknownFlags, _) = await NbdTestClient.ConnectAsync(served.Port);
        await using (unknownFlags)
        {
            await unknownFlags.SendClientFlagsAsync(0xdead_beef);
            Assert.True(await unknownFlags.ClosedByServerAsync(), "unknown client flags were accepted");
        }

        // An option with the wrong magic.
        var (badMagic, _) = await NbdTestClient.ConnectAsync(served.Port);
        await using (badMagic)
        {
            await badMagic.SendClientFlagsAsync(kClientFixedNewstyle);
            await badMagic.SendOptionAsync(kOptGo, new byte[6], magic: 0x0123_4567_89ab_cdef);
            Assert.True(await badMagic.ClosedByServerAsync(), "an option with a bad magic was answered");
        }

        // An option announcing more data than any option needs.
        var (huge, _) = await NbdTestClient.ConnectAsync(served.Port);
        await using (huge)
        {
            await huge.SendClientFlagsAsync(kClientFixedNewstyle);
            var header = new byte[16];
            WriteUInt64BigEndian(header, kOptionMagic);
            WriteUInt32BigEndian(header.AsSpan(8), kOptGo);
            WriteUInt32BigEndian(header.AsSpan(12), uint.MaxValue);
            await huge.SendAsync(header);
            Assert.True(await huge.ClosedByServerAsync(), "a 4 GiB option was waited for");
        }

        // An unknown export chosen with EXPORT_NAME, which has no error reply.
        var (unknownExport, _) = await NbdTestClient.ConnectAsync(served.Port);
        await using (unknownExport)
        {
            await unknownExport.SendClientFlagsAsync(kClientFixedNewstyle);
            await unknownExport.SendOptionAsync(kOptExportName, Encoding.UTF8.GetBytes("nope"));
            Assert.True(await unknownExport.ClosedByServerAsync(), "an unknown export was entered");
        }

        await using var next = await NbdTestClient.OpenAsync(served.Port, ServedArray.kExportName);
        Assert.Equal(0u, (await next.ReadAsync(handle: 1, offset: 0, length: 512)).Error);
        await next.DisposeAsync();
        await served.AssertIdleAsync();
    }

    [Fact]
    public async Task A_client_that_stalls_in_the_handshake_is_disconnected_after_the_timeout()
    {
        await using var served = await ServedArray.StartAsync(output, options: new NbdServerOptions { HandshakeTimeout = TimeSpan.FromMilliseconds(300) });
        var (client, _) = await NbdTestClient.ConnectAsync(served.Port);
        await using var _ = client;
        await client.SendClientFlagsAsync(kClientFixedNewstyle);

        Assert.True(await client.ClosedByServerAsync(TimeSpan.FromSeconds(10)), "a silent client kept its connection");
        await served.AssertIdleAsync();
    }

    [Fact]
    public async Task Connections_beyond_the_limit_are_closed_at_once_and_the_others_are_served()
    {
        await using var served = await ServedArray.StartAsync(output, options: new NbdServerOptions { MaxConnections = 2 });
        await using var first = await NbdTestClient.OpenAsync(served.Port);
        await using var second = await NbdTestClient.OpenAsync(served.Port);

        using var third = new System.Net.Sockets.TcpClient();
        await third.ConnectAsync("127.0.0.1", served.Port);
        var buffer = new byte[18];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        Assert.Equal(0, await third.GetStream().ReadAsync(buffer, timeout.Token));

        Assert.Equal(0u, (await first.ReadAsync(handle: 1, offset: 0, length: 512)).Error);
        Assert.Equal(0u, (await second.ReadAsync(handle: 1, offset: 512, length: 512)).Error);
    }
}
