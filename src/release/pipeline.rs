//! Writing a release: sample, decode, hash, certify, sign, all staged and renamed into
//! place at once. And the model file that `dpsynth sample` reads.

use std::path::{Path, PathBuf};

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};

use sha2::{Digest, Sha256};

use crate::data::{write_atomically, write_parquet_decoded, CsvChunkWriter, DataError, Decoder};
use crate::mechanism::{effective_schema, Fitted, MechanismError};
use crate::model::SamplingMethod;
use crate::schema::Schema;

use super::attest::{attest, subject_of, ENVELOPE_FILE};
use super::datacard::{datacard, DATACARD_FILE};
use super::readme::{accuracy_text, accuracy_warnings_text, release_readme, RELEASE_README};
use super::sign::fingerprint;
use super::{
    certificate_for, describe_output, sign, write_atomic, Certificate, Governance, OutputFile,
    ReleaseError, Sampling, StagedDir,
};

pub const DATA_FILE: &str = "synthetic.csv";
pub const PARQUET_DATA_FILE: &str = "synthetic.parquet";

/// The file format of the synthetic records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Csv,
    /// Every column as UTF-8 text, zstd-compressed; the same values as the CSV.
    Parquet,
}

impl OutputFormat {
    /// The data file's name inside a release.
    pub fn data_file(self) -> &'static str {
        match self {
            OutputFormat::Csv => DATA_FILE,
            OutputFormat::Parquet => PARQUET_DATA_FILE,
        }
    }
}
pub const MODEL_FILE: &str = "model.json";
pub const CERTIFICATE_FILE: &str = "certificate.json";
pub const ACCURACY_FILE: &str = "accuracy.json";
pub const MODEL_FORMAT: &str = "dpsynth-model";
pub const MODEL_VERSION: u32 = 1;

/// A fitted model on disk: the DP model, its ledger and the public schema. Enough to
/// sample without the data.
#[derive(Serialize, Deserialize)]
pub struct ModelFile {
    pub format: String,
    pub format_version: u32,
    pub schema_text: String,
    pub fitted: Fitted,
}

impl ModelFile {
    pub fn new(fitted: Fitted, schema_text: &str) -> Self {
        ModelFile {
            format: MODEL_FORMAT.into(),
            format_version: MODEL_VERSION,
            schema_text: schema_text.to_string(),
            fitted,
        }
    }

    pub fn to_json(&self) -> Result<Vec<u8>, ReleaseError> {
        serde_json::to_vec(self)
            .map_err(|e| ReleaseError::Format(format!("serialising the model: {e}")))
    }

    pub fn load(path: &Path) -> Result<Self, ReleaseError> {
        let f = std::fs::File::open(path).map_err(|e| ReleaseError::Io(path.to_path_buf(), e))?;
        let m: ModelFile = serde_json::from_reader(std::io::BufReader::new(f)).map_err(|e| {
            ReleaseError::Format(format!("{}: not a dpsynth model file: {e}", path.display()))
        })?;
        if m.format != MODEL_FORMAT || m.format_version != MODEL_VERSION {
            return Err(ReleaseError::Format(format!(
                "{}: format {} v{} is not {MODEL_FORMAT} v{MODEL_VERSION}",
                path.display(),
                m.format,
                m.format_version
            )));
        }
        Ok(m)
    }

    pub fn schema(&self) -> Result<Schema, ReleaseError> {
        Schema::from_str_auto(&self.schema_text, "schema embedded in the model")
            .map_err(|e| ReleaseError::Format(e.to_string()))
    }
}

/// How records are drawn for a release.
#[derive(Clone, Debug)]
pub struct SampleSpec {
    /// `None`: the model's noisy total (proofs/row-count.md).
    pub rows: Option<usize>,
    pub seed: u64,
    pub method: SamplingMethod,
    pub format: OutputFormat,
}

impl SampleSpec {
    pub fn rows_for(&self, fitted: &Fitted) -> usize {
        self.rows.unwrap_or_else(|| fitted.default_rows())
    }
}

/// Samples `rows` records from a model file's model and writes them as CSV (atomically),
/// whatever `spec.format` says.
pub fn sample_to_csv(
    model: &ModelFile,
    spec: &SampleSpec,
    out: &Path,
) -> Result<usize, ReleaseError> {
    let spec = SampleSpec {
        format: OutputFormat::Csv,
        ..spec.clone()
    };
    sample_to_file(model, &spec, out)
}

/// Samples `rows` records from a model file's model and writes them in `spec.format`
/// (atomically).
pub fn sample_to_file(
    model: &ModelFile,
    spec: &SampleSpec,
    out: &Path,
) -> Result<usize, ReleaseError> {
    sample_and_describe(model, spec, out).map(|(rows, _)| rows)
}

/// [`sample_to_file`], also returning the file's SHA-256 and size when they were computed
/// while writing (CSV), so the release need not read its largest file back.
///
/// A CSV is written chunk by chunk as the records are drawn ([`Fitted::synthesize_chunks`],
/// [`CsvChunkWriter`]): memory does not grow with the number of records.
fn sample_and_describe(
    model: &ModelFile,
    spec: &SampleSpec,
    out: &Path,
) -> Result<(usize, Option<(String, u64)>), ReleaseError> {
    let schema = model.schema()?;
    let rows = spec.rows_for(&model.fitted);
    let fitted = &model.fitted;
    let masses = fitted.decoded_masses();
    let internal =
        |e: MechanismError| ReleaseError::Format(format!("internal error while sampling: {e}"));
    let data = |e: DataError| ReleaseError::Format(e.to_string());
    match spec.format {
        // Codes in the schema as the model decodes it (automatic bins merged), each record
        // in a cell the rules allow; then values from the model's within-bin densities,
        // obeying the rules and checked record by record before it is written.
        OutputFormat::Csv => {
            let eff = effective_schema(&schema, &fitted.compression).map_err(internal)?;
            let decoder = Decoder::with_masses(&eff, &masses).map_err(data)?;
            let name = out.display().to_string();
            let mut digest = None;
            write_atomically(out, ".csv.tmp", |f| {
                let mut w = CsvChunkWriter::new(Hashing::new(f), &name, &decoder, spec.seed)
                    .map_err(data)?;
                fitted.synthesize_chunks(
                    &schema,
                    rows,
                    spec.seed,
                    spec.method,
                    |_, _, chunk| -> Result<(), SinkError> { Ok(w.write_chunk(chunk)?) },
                )?;
                digest = Some(w.finish().map_err(data)?.finish());
                Ok::<(), ReleaseError>(())
            })?;
            Ok((rows, digest))
        }
        OutputFormat::Parquet => {
            let (decoder, columns) = sample_codes(model, spec)?;
            write_parquet_decoded(out, &decoder, &columns, spec.seed).map_err(data)?;
            Ok((rows, None))
        }
    }
}

/// What stops a chunked write: the sampler or the writer.
enum SinkError {
    Sampling(MechanismError),
    Data(DataError),
}

impl From<MechanismError> for SinkError {
    fn from(e: MechanismError) -> Self {
        SinkError::Sampling(e)
    }
}

impl From<DataError> for SinkError {
    fn from(e: DataError) -> Self {
        SinkError::Data(e)
    }
}

impl From<SinkError> for ReleaseError {
    fn from(e: SinkError) -> Self {
        match e {
            SinkError::Sampling(e) => {
                ReleaseError::Format(format!("internal error while sampling: {e}"))
            }
            SinkError::Data(e) => ReleaseError::Format(e.to_string()),
        }
    }
}

impl From<DataError> for ReleaseError {
    fn from(e: DataError) -> Self {
        ReleaseError::Format(e.to_string())
    }
}

/// A writer that hashes (SHA-256) and counts the bytes it passes on: the certificate's
/// digest of a file, computed as the file is written.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: std::io::Write> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// The hex SHA-256 and the size of everything written.
    fn finish(self) -> (String, u64) {
        (hex::encode(self.hasher.finalize()), self.bytes)
    }
}

impl<W: std::io::Write> std::io::Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The codes of a sample from a model file's model and the decoder that turns them into
/// values: what [`sample_to_file`] writes and the Python package returns as an Arrow table
/// (decoded with [`decode_rng`](crate::data::decode_rng)`(spec.seed)`, so all agree).
pub fn sample_codes(
    model: &ModelFile,
    spec: &SampleSpec,
) -> Result<(Decoder, Vec<Vec<u32>>), ReleaseError> {
    let schema = model.schema()?;
    let rows = spec.rows_for(&model.fitted);
    // Codes in the schema as the model decodes it (automatic bins merged), each record in a
    // cell the rules allow; then values from the model's within-bin densities, obeying the
    // rules and checked record by record before anything is written.
    let (decoded, columns) = model
        .fitted
        .synthesize_for(&schema, rows, spec.seed, spec.method)
        .map_err(|e| ReleaseError::Format(format!("internal error while sampling: {e}")))?;
    let decoder = Decoder::with_masses(&decoded, &model.fitted.decoded_masses())
        .map_err(|e| ReleaseError::Format(e.to_string()))?;
    Ok((decoder, columns))
}

/// Writes `synthetic.csv` (or `synthetic.parquet`), `model.json`, `certificate.json` and `README.txt` into `out`,
/// staged in a hidden sibling and renamed into place only when all are complete.
#[allow(clippy::too_many_arguments)]
pub fn write_release(
    out: &Path,
    force: bool,
    fitted: &Fitted,
    schema_text: &str,
    options: serde_json::Value,
    spec: &SampleSpec,
    key: Option<&SigningKey>,
    gov: &Governance,
) -> Result<(PathBuf, Certificate), ReleaseError> {
    let stage = StagedDir::new(out, force)?;
    let model = ModelFile::new(fitted.clone(), schema_text);
    let data_file = spec.format.data_file();
    let (rows, digest) = sample_and_describe(&model, spec, &stage.path(data_file))?;
    // The data file's digest as written (CSV), else read back.
    let data_output = match digest {
        Some((sha256, bytes)) => OutputFile {
            file: data_file.into(),
            sha256,
            bytes,
            rows: Some(rows as u64),
        },
        None => describe_output(&stage.path(data_file), data_file, true)?,
    };
    write_atomic(&stage.path(MODEL_FILE), &model.to_json()?)?;
    let mut outputs = vec![
        data_output,
        describe_output(&stage.path(MODEL_FILE), MODEL_FILE, false)?,
    ];
    // Error bars: DP outputs only (proofs/accuracy.md), listed and hashed like the rest.
    if let Some(acc) = &fitted.accuracy {
        write_atomic(&stage.path(ACCURACY_FILE), acc.to_json().as_bytes())?;
        outputs.push(describe_output(
            &stage.path(ACCURACY_FILE),
            ACCURACY_FILE,
            false,
        )?);
    }
    let sampling = Sampling {
        seed: spec.seed,
        method: format!("{:?}", spec.method).to_lowercase(),
        rows_source: if spec.rows.is_some() {
            "user".into()
        } else {
            "model total".into()
        },
    };
    debug_assert_eq!(outputs[0].rows, Some(rows as u64));
    let mut cert = certificate_for(fitted, options, schema_text, outputs, sampling, gov)?;
    // The data card, before the certificate is final, so that the certificate hashes it.
    let fp = key.map(|k| fingerprint(&k.verifying_key()));
    let card = datacard(
        &cert,
        &model.schema()?,
        fitted.accuracy.as_ref(),
        fp.as_deref(),
    );
    write_atomic(&stage.path(DATACARD_FILE), card.as_bytes())?;
    cert.outputs.push(describe_output(
        &stage.path(DATACARD_FILE),
        DATACARD_FILE,
        false,
    )?);
    if let Some(k) = key {
        sign(&mut cert, k);
    }
    // Warnings open the README; the error bars in words follow the guarantee's text.
    let readme = match &fitted.accuracy {
        Some(acc) => format!(
            "{}{}{}",
            accuracy_warnings_text(acc),
            release_readme(&cert),
            accuracy_text(acc)
        ),
        None => release_readme(&cert),
    };
    write_atomic(&stage.path(RELEASE_README), readme.as_bytes())?;
    let cert_text = cert.to_pretty_json();
    // The attestation: every file of the release, the certificate as the predicate.
    if let Some(k) = key {
        let mut files: Vec<(String, String)> = cert
            .outputs
            .iter()
            .map(|o| (o.file.clone(), o.sha256.clone()))
            .collect();
        files.push(subject_of(RELEASE_README, readme.as_bytes()));
        files.push(subject_of(CERTIFICATE_FILE, cert_text.as_bytes()));
        let envelope = attest(&cert, &files, k)?;
        write_atomic(
            &stage.path(ENVELOPE_FILE),
            envelope.to_pretty_json().as_bytes(),
        )?;
    }
    // The certificate is staged under a pending name and becomes certificate.json only after
    // the directory is in place: no directory ever holds a complete release early.
    let pending = format!("{CERTIFICATE_FILE}.pending");
    write_atomic(&stage.path(&pending), cert_text.as_bytes())?;
    let dir = stage.commit_with_last(&pending, CERTIFICATE_FILE)?;
    Ok((dir, cert))
}
