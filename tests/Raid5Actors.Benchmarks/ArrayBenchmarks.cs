using Akka.Configuration;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Raid5Actors.Arrays;
using Raid5Actors.Disks;

namespace Raid5Actors.Benchmarks;

/// <summary>
/// End to end through the public API, in process: 4 memory members with 64 KiB chunks.
/// Sequential 1 MiB writes and reads with 8 in flight (fio's seq jobs), random 4 KiB writes and
/// reads with 32 in flight. The anchor, measured in the same run, is a RAM disk: the same calls
/// served by a plain memcpy into one byte array, the ceiling for any in-process block device.
/// </summary>
[Config(typeof(ArrayBenchmarkConfig))]
public class ArrayBenchmarks
{
    public const int kSeqRequests = 64;
    public const int kRandomRequests = 4096;
    private const int kSeqInFlight = 8;
    private const int kRandomInFlight = 32;
    private const long kMemberBytes = (1L << 20) + (128L << 20);

    private IBlockTarget _target = null!;
    private string _folder = "";

    [Params("raid5", "ramdisk")]
    public string Target { get; set; } = "raid5";

    [GlobalSetup]
    public async Task Setup()
    {
        _folder = Path.Combine(Path.GetTempPath(), $"raid5-bench-{Guid.NewGuid():N}");
        var array = await Raid5Array.CreateAsync(
            _folder,
            new Raid5CreateOptions(Members: 4, kMemberBytes, ChunkBytes: 64 * 1024),
            new Raid5ArrayOptions { Members = new MemoryMemberStoreProvider(), Config = ConfigurationFactory.ParseString("akka.loglevel = WARNING") });
        _target = Target == "raid5" ? new ArrayTarget(array) : new RamDisk(array.CapacityBytes);
        if (Target != "raid5")
            await array.DisposeAsync();
        // Fill the device once so that reads return written data.
        var fill = new byte[1 << 20];
        Random.Shared.NextBytes(fill);
        for (long offset = 0; offset + fill.Length <= _target.CapacityBytes; offset += fill.Length)
            await _target.WriteAsync(offset, fill);
    }

    [GlobalCleanup]
    public async Task Cleanup()
    {
        await _target.DisposeAsync();
        Directory.Delete(_folder, recursive: true);
    }

    [Benchmark(OperationsPerInvoke = kSeqRequests)]
    public Task SeqWrite1MiB() => Sequential(write: true);

    [Benchmark(OperationsPerInvoke = kSeqRequests)]
    public Task SeqRead1MiB() => Sequential(write: false);

    [Benchmark(OperationsPerInvoke = kRandomRequests)]
    public Task RandWrite4KiB() => Random4KiB(write: true);

    [Benchmark(OperationsPerInvoke = kRandomRequests)]
    public Task RandRead4KiB() => Random4KiB(write: false);

    public static int BytesPerRequest(string method) => method.StartsWith("Seq", StringComparison.Ordinal) ? 1 << 20 : 4096;

    private Task Sequential(bool write)
    {
        var next = -1;
        return RunWorkers(kSeqInFlight, 1 << 20, async buffer =>
        {
            while (true)
            {
                var index = Interlocked.Increment(ref next);
                if (index >= kSeqRequests)
                    return;
                var offset = (long)index * buffer.Length;
                await (write ? _target.WriteAsync(offset, buffer) : _target.ReadAsync(offset, buffer));
            }
        });
    }

    private Task Random4KiB(bool write)
    {
        var pages = _target.CapacityBytes / 4096;
        return RunWorkers(kRandomInFlight, 4096, async buffer =>
        {
            var random = new Random();
            for (var i = 0; i < kRandomRequests / kRandomInFlight; i++)
            {
                var offset = random.NextInt64(pages) * 4096;
                await (write ? _target.WriteAsync(offset, buffer) : _target.ReadAsync(offset, buffer));
            }
        });
    }

    private static Task RunWorkers(int workers, int bufferBytes, Func<byte[], Task> worker) =>
        Task.WhenAll(Enumerable.Range(0, workers).Select(_ => Task.Run(() => worker(new byte[bufferBytes]))));

    private interface IBlockTarget : IAsyncDisposable
    {
        long CapacityBytes { get; }

        Task WriteAsync(long offset, byte[] data);

        Task ReadAsync(long offset, byte[] data);
    }

    private sealed class ArrayTarget(Raid5Array array) : IBlockTarget
    {
        public long CapacityBytes => array.CapacityBytes;

        public Task WriteAsync(long offset, byte[] data) => array.WriteAsync(offset, data);

        public Task ReadAsync(long offset, byte[] data) => array.ReadAsync(offset, data);

        public ValueTask DisposeAsync() => array.DisposeAsync();
    }

    private sealed class RamDisk(long capacityBytes) : IBlockTarget
    {
        private readonly byte[] _bytes = new byte[capacityBytes];

        public long CapacityBytes => capacityBytes;

        public Task WriteAsync(long offset, byte[] data)
        {
            data.CopyTo(_bytes.AsSpan((int)offset));
            return Task.CompletedTask;
        }

        public Task ReadAsync(long offset, byte[] data)
        {
            _bytes.AsSpan((int)offset, data.Length).CopyTo(data);
            return Task.CompletedTask;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }
}

public sealed class ArrayBenchmarkConfig : ManualConfig
{
    public ArrayBenchmarkConfig()
    {
        AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.Max);
        AddColumn(new IoRateColumn(megabytes: true), new IoRateColumn(megabytes: false));
    }
}

/// <summary>MB/s (1e6 B/s) or IOPS per request: median, and the range from the slowest and fastest iteration.</summary>
public sealed class IoRateColumn(bool megabytes) : IColumn
{
    public string Id => megabytes ? "MBps" : "IOPS";

    public string ColumnName => megabytes ? "MB/s med [min-max]" : "IOPS med [min-max]";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => megabytes ? 0 : 1;

    public bool IsNumeric => false;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => megabytes ? "Payload MB/s (1e6 B/s)" : "Requests per second";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (statistics is null)
            return "NA";
        // Statistics are per request (OperationsPerInvoke), in nanoseconds.
        double perNs = megabytes ? ArrayBenchmarks.BytesPerRequest(benchmarkCase.Descriptor.WorkloadMethod.Name) / 1e6 : 1;
        return $"{perNs * 1e9 / statistics.Median:F0} [{perNs * 1e9 / statistics.Max:F0}-{perNs * 1e9 / statistics.Min:F0}]";
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}
