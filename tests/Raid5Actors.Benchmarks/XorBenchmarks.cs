using System.Runtime.InteropServices;
using BenchmarkDotNet.Attributes;
using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;
using Raid5Actors.Parity;

namespace Raid5Actors.Benchmarks;

/// <summary>
/// Full-stripe parity, laid out like /work/shared/bench/xor-ref/xor-bench.c so the figures compare:
/// a working set of K-chunk stripes (64 KiB chunks) plus a separate parity area; one operation is
/// one pass computing every stripe's parity. 256 MiB streams from DRAM (memory-bound); 1 MiB stays
/// in cache (compute-bound). The GB/s column is source data consumed per second, as in the C bench.
/// </summary>
/// <remarks>
/// Run: dotnet run -c Release --project tests/Raid5Actors.Benchmarks -- --filter '*XorBenchmarks*'
/// --warmupCount 2 --iterationCount 7 --launchCount 1
/// </remarks>
[Config(typeof(XorBenchmarkConfig))]
public class XorBenchmarks
{
    public const int kChunkBytes = 64 * 1024;

    // The C bench aligns to 2 MiB and asks for transparent huge pages; doing the same keeps the
    // comparison about the kernel, not about TLB misses.
    private const int kHugePageBytes = 2 * 1024 * 1024;
    private const int kMadviseHugePage = 14;

    private byte[] _data = [];
    private byte[] _parity = [];
    private int _dataStart;
    private int _parityStart;
    private int _stripes;
    private ReadOnlyMemory<byte>[] _sources = [];

    [Params(3, 4, 7)]
    public int SourceCount { get; set; }

    [Params(256, 1)]
    public int WorkingSetMiB { get; set; }

    /// <summary>Source bytes one operation consumes: whole stripes only, as xor-bench.c counts them.</summary>
    public static long DataBytesPerOp(int sourceCount, int workingSetMiB)
    {
        var stripes = ((long)workingSetMiB << 20) / ((long)sourceCount * kChunkBytes);
        return stripes * sourceCount * kChunkBytes;
    }

    [GlobalSetup]
    public void Setup()
    {
        _stripes = (int)(DataBytesPerOp(SourceCount, WorkingSetMiB) / ((long)SourceCount * kChunkBytes));
        (_data, _dataStart) = AllocateHugePageAligned(_stripes * SourceCount * kChunkBytes);
        (_parity, _parityStart) = AllocateHugePageAligned(_stripes * kChunkBytes);
        new Random(0x5EED).NextBytes(_data);
        new Random(7).NextBytes(_parity);
        _sources = new ReadOnlyMemory<byte>[_stripes * SourceCount];
        for (var i = 0; i < _sources.Length; i++)
        {
            _sources[i] = _data.AsMemory(_dataStart + (i * kChunkBytes), kChunkBytes);
        }

        VerifyStripe(0);
        VerifyStripe(_stripes - 1);
    }

    [Benchmark]
    public void ComputeParityPass()
    {
        for (var stripe = 0; stripe < _stripes; stripe++)
        {
            XorParity.Compute(ParityOf(stripe), _sources.AsSpan(stripe * SourceCount, SourceCount));
        }
    }

    private Span<byte> ParityOf(int stripe) => _parity.AsSpan(_parityStart + (stripe * kChunkBytes), kChunkBytes);

    private void VerifyStripe(int stripe)
    {
        var sources = _sources.AsSpan(stripe * SourceCount, SourceCount);
        XorParity.Compute(ParityOf(stripe), sources);
        var parity = ParityOf(stripe);
        for (var i = 0; i < kChunkBytes; i++)
        {
            byte expected = 0;
            foreach (var source in sources)
            {
                expected ^= source.Span[i];
            }

            if (parity[i] != expected)
            {
                throw new InvalidOperationException($"parity of stripe {stripe} wrong at byte {i}");
            }
        }
    }

    private static (byte[] Array, int Start) AllocateHugePageAligned(int lengthBytes)
    {
        var array = GC.AllocateUninitializedArray<byte>(lengthBytes + kHugePageBytes, pinned: true);
        var address = Marshal.UnsafeAddrOfPinnedArrayElement(array, 0);
        var start = (int)((kHugePageBytes - (address % kHugePageBytes)) % kHugePageBytes);
        if (OperatingSystem.IsLinux())
        {
            // Best effort, before the pages are first touched; a failure only costs TLB misses.
            _ = Madvise(address + start, (nuint)(lengthBytes & ~(kHugePageBytes - 1)), kMadviseHugePage);
        }

        return (array, start);
    }

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint address, nuint lengthBytes, int advice);
}

/// <summary>Adds the data-rate columns; the job itself comes from the command line.</summary>
public sealed class XorBenchmarkConfig : ManualConfig
{
    public XorBenchmarkConfig()
    {
        AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.Max);
        AddColumn(new DataRateColumn(), new DataBytesColumn());
    }
}

/// <summary>GB/s (1e9 B/s) of source data: median, and the range from the slowest and fastest iteration.</summary>
public sealed class DataRateColumn : IColumn
{
    public string Id => nameof(DataRateColumn);

    public string ColumnName => "Data GB/s med [min-max]";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 0;

    public bool IsNumeric => false;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Source bytes consumed per second, 1e9 B/s, from the median, slowest and fastest iteration";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var statistics = summary[benchmarkCase]?.ResultStatistics;
        if (statistics is null)
        {
            return "NA";
        }

        // Bytes per nanosecond is GB/s.
        double bytes = DataBytesColumn.BytesPerOp(benchmarkCase);
        return $"{bytes / statistics.Median:F2} [{bytes / statistics.Max:F2}-{bytes / statistics.Min:F2}]";
    }

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}

/// <summary>Source bytes per operation, so any other rate can be derived from the mean.</summary>
public sealed class DataBytesColumn : IColumn
{
    public string Id => nameof(DataBytesColumn);

    public string ColumnName => "Data bytes/op";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 1;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Source bytes one operation consumes (whole stripes of 64 KiB chunks)";

    public static long BytesPerOp(BenchmarkCase benchmarkCase) => XorBenchmarks.DataBytesPerOp(
        (int)benchmarkCase.Parameters[nameof(XorBenchmarks.SourceCount)],
        (int)benchmarkCase.Parameters[nameof(XorBenchmarks.WorkingSetMiB)]);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => BytesPerOp(benchmarkCase).ToString();

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => GetValue(summary, benchmarkCase);

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;

    public bool IsAvailable(Summary summary) => true;
}
