using Raid5Actors.Arrays;
using Raid5Actors.Disks;
using Raid5Actors.Nbd;
using Raid5Actors.Tests.Arrays;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Xunit.Abstractions;

namespace Raid5Actors.Tests.Nbd;

/// <summary>
/// A real array (4 members, 64 KiB chunks) served by an <see cref="NbdServer"/> on 127.0.0.1 and
/// an ephemeral port. Disposing stops the server, then the array, then deletes the folder. The
/// server logs to the test output; an Error event from it fails the spec.
/// </summary>
internal sealed class ServedArray : IAsyncDisposable
{
    public const string kExportName = "raid5";
    public const int kMemberCount = 4;
    public const int kChunkBytes = 64 << 10;
    public const long kDefaultMemberDataBytes = 32L << 20;

    private readonly TemporaryFolder _temp;
    private readonly ErrorCountingSink _errors;
    private readonly Logger _logger;

    private ServedArray(TemporaryFolder temp, ArrayUnderTest members, Raid5Array array, NbdServer server, ErrorCountingSink errors, Logger logger)
    {
        _temp = temp;
        Members = members;
        Array = array;
        Server = server;
        _errors = errors;
        _logger = logger;
    }

    public ArrayUnderTest Members { get; }

    public Raid5Array Array { get; private set; }

    public NbdServer Server { get; }

    public int Port => Server.Port;

    public long CapacityBytes => Array.CapacityBytes;

    /// <summary>The default export <c>""</c>.</summary>
    public string Uri => $"nbd://127.0.0.1:{Port}/";

    public string NamedUri => $"nbd://127.0.0.1:{Port}/{kExportName}";

    /// <summary>A file of the spec's own folder (deleted with it).</summary>
    public string PathOf(string name) => _temp.PathOf(name);

    /// <summary>Starts an array with <paramref name="memberDataBytes"/> per member (capacity is 3 times that), memory members unless told otherwise, and its server.</summary>
    /// <param name="simulated">Members on simulated disks instead, for fault injection.</param>
    public static async Task<ServedArray> StartAsync(
        ITestOutputHelper output,
        MemberKind kind = MemberKind.Memory,
        long memberDataBytes = kDefaultMemberDataBytes,
        NbdServerOptions? options = null,
        SimulatedMemberStoreProvider? simulated = null)
    {
        var temp = new TemporaryFolder();
        var errors = new ErrorCountingSink(output);
        var logger = new LoggerConfiguration().MinimumLevel.Debug().WriteTo.Sink(errors).CreateLogger();
        Raid5Array? array = null;
        try
        {
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var members = new ArrayUnderTest(temp.PathOf("array"), kind);
            var create = new Raid5CreateOptions(kMemberCount, MemberSuperblock.kDefaultDataOffsetBytes + memberDataBytes, kChunkBytes);
            array = simulated is null
                ? await members.CreateAsync(create)
                : await Raid5Array.CreateAsync(members.Folder, create, members.Options with { Members = simulated });
            output.WriteLine($"array of {array.CapacityBytes} bytes on {(simulated is null ? kind.ToString() : "simulated")} members created in {watch.ElapsedMilliseconds} ms");
            var server = NbdServer.Start(array, (options ?? new NbdServerOptions()) with
            {
                BindAddress = System.Net.IPAddress.Loopback,
                Port = 0,
                ExportName = kExportName,
            }, logger);
            return new ServedArray(temp, members, array, server, errors, logger);
        }
        catch
        {
            if (array is not null)
                await array.DisposeAsync();
            await logger.DisposeAsync();
            temp.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Waits until no client is connected and the server holds nothing: no request, no buffer, no
    /// budget byte. Fails naming what is still held.
    /// </summary>
    public async Task AssertIdleAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(10));
        NbdServerStats stats;
        while (true)
        {
            stats = Server.GetStats();
            if (stats is { Connections: 0, RequestsInFlight: 0, BuffersRented: 0, BufferedBytes: 0 })
                return;
            if (DateTime.UtcNow > deadline)
                break;
            await Task.Delay(20);
        }
        Assert.Fail($"the server still holds resources after its clients left: {stats}");
    }

    /// <summary>Stops the server and the array (files stay), then opens the array again from its members.</summary>
    public async Task<Raid5Array> StopAndReopenArrayAsync()
    {
        await Server.StopAsync();
        await Array.DisposeAsync();
        Array = await Members.OpenAsync();
        return Array;
    }

    public async ValueTask DisposeAsync()
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await Server.StopAsync();
            await Array.DisposeAsync();
            _logger.Information("server and array stopped in {Elapsed} ms", watch.ElapsedMilliseconds);
        }
        finally
        {
            await _logger.DisposeAsync();
            _temp.Dispose();
        }
        Assert.True(_errors.Errors == 0, $"the NBD server logged {_errors.Errors} error(s); see the test output");
    }

    /// <summary>Writes every event to the test output and counts the errors.</summary>
    private sealed class ErrorCountingSink(ITestOutputHelper output) : ILogEventSink
    {
        private int _errors;

        public int Errors => Volatile.Read(ref _errors);

        public void Emit(LogEvent logEvent)
        {
            if (logEvent.Level >= LogEventLevel.Error)
                Interlocked.Increment(ref _errors);
            try
            {
                output.WriteLine($"{logEvent.Timestamp:HH:mm:ss.fff} [{logEvent.Level}] {logEvent.RenderMessage()}{(logEvent.Exception is null ? "" : " " + logEvent.Exception)}");
            }
            catch (InvalidOperationException)
            {
                // The test has finished; its output is closed.
            }
        }
    }
}

/// <summary>Helpers for random data that a failure can replay.</summary>
internal static class TestData
{
    private const string kSeedVariable = "RAID5_TEST_SEED";

    public static Random NewRandom(ITestOutputHelper output)
    {
        var fixedSeed = Environment.GetEnvironmentVariable(kSeedVariable);
        var seed = fixedSeed is null ? System.Random.Shared.Next() : int.Parse(fixedSeed);
        output.WriteLine($"seed {seed} (replay with {kSeedVariable}={seed})");
        return new Random(seed);
    }

    public static byte[] Bytes(Random random, int lengthBytes)
    {
        var bytes = new byte[lengthBytes];
        random.NextBytes(bytes);
        return bytes;
    }

    public static string Sha256(ReadOnlySpan<byte> bytes) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(bytes));

    public static async Task<byte[]> ReadFromArrayAsync(Raid5Array array, long offsetBytes, int lengthBytes)
    {
        var bytes = new byte[lengthBytes];
        await array.ReadAsync(offsetBytes, bytes);
        return bytes;
    }
}
