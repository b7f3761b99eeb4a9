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
/// ISA-L's xor_gen runs in the same process on the same buffers as the baseline, so the Ratio column
/// survives the load swings of a shared machine better than two separate runs do.
/// </summary>
/// <remarks>
/// Run: dotnet run -c Release --project tests/Raid5Actors.Benchmarks -- --filter '*XorBenchmarks*'
/// --inProcess --warmupCount 2 --iterationCount 9 --launchCount 1 (in-process skips BDN's rebuild of
/// the solution). Needs libisal2 for the baseline rows.
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

    // Per stripe: K source addresses then the parity address, the void** layout xor_gen expects.
    private nint[] _isalPointers = [];

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
        _isalPointers = IsalPointers();
    }

    /// <summary>
    /// ISA-L xor_gen (libisal2, runtime-dispatched asm with non-temporal stores), the C reference.
    /// </summary>
    [Benchmark(Baseline = true)]
    public void IsalXorGenPass()
    {
        var vectors = SourceCount + 1;
        for (var stripe = 0; stripe < _stripes; stripe++)
        {
            if (XorGen(vectors, kChunkBytes, ref _isalPointers[stripe * vectors]) != 0)
            {
                throw new InvalidOperationException("xor_gen failed");
            }
        }
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

    private nint[] IsalPointers()
    {
        if (!NativeLibrary.TryLoad(kIsalLibrary, out _))
        {
            throw new InvalidOperationException($"{kIsalLibrary} not found: apt-get install -y libisal2 for the ISA-L baseline.");
        }

        var vectors = SourceCount + 1;
        var pointers = new nint[_stripes * vectors];
        for (var stripe = 0; stripe < _stripes; stripe++)
        {
            for (var j = 0; j < SourceCount; j++)
            {
                pointers[(stripe * vectors) + j] = AddressOf(_data, _dataStart + (((stripe * SourceCount) + j) * kChunkBytes));
            }

            pointers[(stripe * vectors) + SourceCount] = AddressOf(_parity, _parityStart + (stripe * kChunkBytes));
        }

        return pointers;
    }

    // The arrays live on the pinned object heap, so the addresses stay valid for the run.
    private static nint AddressOf(byte[] pinned, int index) => Marshal.UnsafeAddrOfPinnedArrayElement(pinned, index);

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

    private const string kIsalLibrary = "libisal.so.2";

    [DllImport(kIsalLibrary, EntryPoint = "xor_gen")]
    private static extern int XorGen(int vectors, int lengthBytes, ref nint pointers);

    [DllImport("libc", EntryPoint = "madvise")]
    private static extern int Madvise(nint address, nuint lengthBytes, int advice);
}

/// <summary>Adds the data-rate columns; the job itself comes from the command line.</summary>
public sealed class XorBenchmarkConfig : ManualConfig
{
    public XorBenchmarkConfig()
    {
        AddColumn(StatisticColumn.Median, StatisticColumn.Min, StatisticColumn.Max);
        AddColumn(new DataRateColumn(), new ThroughputVsBaselineColumn(), new DataBytesColumn());
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

/// <summary>
/// Throughput relative to the baseline (ISA-L) from the medians: above 1 is faster. BDN's own Ratio
/// column is the inverse (time, from the means).
/// </summary>
public sealed class ThroughputVsBaselineColumn : IColumn
{
    public string Id => nameof(ThroughputVsBaselineColumn);

    public string ColumnName => "x ISA-L (med)";

    public bool AlwaysShow => true;

    public ColumnCategory Category => ColumnCategory.Custom;

    public int PriorityInCategory => 2;

    public bool IsNumeric => true;

    public UnitType UnitType => UnitType.Dimensionless;

    public string Legend => "Median throughput divided by the baseline's median throughput in the same parameter group";

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase)
    {
        var baseline = summary.GetBaseline(summary.GetLogicalGroupKey(benchmarkCase));
        var own = summary[benchmarkCase]?.ResultStatistics;
        var reference = baseline is null ? null : summary[baseline]?.ResultStatistics;
        return own is null || reference is null ? "NA" : $"{reference.Median / own.Median:F2}";
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
